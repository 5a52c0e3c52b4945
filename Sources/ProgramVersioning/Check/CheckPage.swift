import Foundation
import PostgresDriver

/// What one page of the check read and found.
struct CheckPage: Sendable {
    /// Records the page checked (counted in the report).
    var scanned = 0
    /// Keys of the walked table the page read: fewer than the page size means it was the last.
    var keysRead = 0
    /// The page's last key: where the next page starts.
    var lastKey: UUID?
    var differences: [CheckDifference] = []
    /// Programs whose legacy JSON is behind their latest version, as expected in phase 5.
    var legacyBehind = 0
    /// Work on what was read that needs no database: done while the next page is read.
    var compare: @Sendable () -> [CheckDifference] = { [] }
}

/// One part of the check that walks a table in keyset pages.
protocol CheckPager: Sendable {
    func run(after cursor: UUID?, pageSize: Int, on connection: PostgresConnection) async throws -> CheckPage
}

extension CheckPager {
    /// Every page in key order, the next one read (on a connection of its own) while this
    /// one is compared, so the database and the comparison work at the same time. Returns
    /// the number of records scanned and of programs whose legacy is behind (phase 5).
    func forEachPage(
        pageSize: Int, pool: PostgresPool, _ body: ([CheckDifference]) -> Void
    ) async throws -> (scanned: Int, legacyBehind: Int) {
        func read(after cursor: UUID?) -> Task<CheckPage, any Error> {
            Task {
                try await pool.transaction { connection in
                    // Read-only, and without JIT: compiling a page's statements (their
                    // estimated cost passes jit_above_cost on big tables) took longer than
                    // running them.
                    try await connection.executeScript(unsafeSQL: "SET TRANSACTION READ ONLY; SET LOCAL jit = off")
                    return try await self.run(after: cursor, pageSize: pageSize, on: connection)
                }
            }
        }
        var next = read(after: nil)
        var scanned = 0
        var legacyBehind = 0
        while true {
            let page = try await next.value
            scanned += page.scanned
            legacyBehind += page.legacyBehind
            let more = page.keysRead >= pageSize
            if more { next = read(after: page.lastKey) }
            body(page.differences + page.compare())
            if !more { return (scanned, legacyBehind) }
        }
    }
}
