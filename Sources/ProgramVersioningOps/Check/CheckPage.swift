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
    func run(after cursor: UUID?, pageSize: Int, on connection: PGConnection) async throws -> CheckPage
}

/// How one walk of the check ended.
struct CheckWalk: Sendable {
    var scanned = 0
    var legacyBehind = 0
    /// A stop was asked for before the walk reached its end.
    var stopped = false
}

extension CheckPager {
    /// Every page in key order after `start`, the next one read (on a connection of its
    /// own) while this one is compared, so the database and the comparison work at the same
    /// time. Before each read the walk's pacer may hold it (a pause, a throttle signal) or
    /// stop it, and sizes the page. `body` gets each page with its differences, and whether
    /// it was the walk's last, in order.
    func forEachPage(
        after start: UUID?, pacer initial: BatchPacer, pool: PGPool, show: @escaping @Sendable (String?) async throws -> Void,
        _ body: (CheckPage, [CheckDifference], _ last: Bool) async throws -> Void
    ) async throws -> CheckWalk {
        typealias Read = (page: CheckPage?, pacer: BatchPacer, size: Int, took: Duration)
        @Sendable func read(after cursor: UUID?, pacer: BatchPacer) async throws -> Read {
            var pacer = pacer
            return try await pool.withConnection { connection -> Read in
                guard let size = try await pacer.nextBatchSize(on: connection, show: show) else { return (nil, pacer, 0, .zero) }
                let started = ContinuousClock.now
                let page = try await connection.transaction { connection in
                    // Read-only, and without JIT: compiling a page's statements (their
                    // estimated cost passes jit_above_cost on big tables) took longer than
                    // running them.
                    try await connection.executeScript(unsafeSQL: "SET TRANSACTION READ ONLY; SET LOCAL jit = off")
                    return try await self.run(after: cursor, pageSize: size, on: connection)
                }
                return (page, pacer, size, started.duration(to: .now))
            }
        }
        // The next page's read is a child task: if the walk ends early (an error, a stop),
        // it is cancelled and awaited before this returns, never left running.
        return try await withThrowingTaskGroup(of: Read.self) { group in
            group.addTask { try await read(after: start, pacer: initial) }
            var walk = CheckWalk()
            while let (page, pacer, size, took) = try await group.next() {
                guard let page else {
                    walk.stopped = true
                    return walk
                }
                var finished = pacer
                try await finished.finished(records: page.keysRead, took: took)
                walk.scanned += page.scanned
                walk.legacyBehind += page.legacyBehind
                let more = page.keysRead >= size
                if more { group.addTask { [finished] in try await read(after: page.lastKey, pacer: finished) } }
                try await body(page, page.differences + page.compare(), !more)
                if !more { return walk }
            }
            return walk
        }
    }
}
