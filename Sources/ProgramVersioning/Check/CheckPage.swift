import Foundation
import PostgresDriver

/// What one page of the check read and found.
struct CheckPage {
    /// Records the page covered.
    var scanned = 0
    /// The page's last key: where the next page starts.
    var lastKey: UUID?
    var differences: [CheckDifference] = []
}

/// One part of the check that walks a table in keyset pages.
protocol CheckPager {
    func run(after cursor: UUID?, pageSize: Int, on connection: PostgresConnection) async throws -> CheckPage
}

extension CheckPager {
    /// Every page in key order; returns the number of records scanned.
    func forEachPage(
        pageSize: Int, on connection: PostgresConnection, _ body: ([CheckDifference]) -> Void
    ) async throws -> Int {
        var cursor: UUID?
        var scanned = 0
        while true {
            let page = try await run(after: cursor, pageSize: pageSize, on: connection)
            scanned += page.scanned
            body(page.differences)
            cursor = page.lastKey
            if page.scanned < pageSize { return scanned }
        }
    }
}
