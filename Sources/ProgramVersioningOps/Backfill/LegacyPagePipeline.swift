import Foundation
import PostgresDriver

/// The pages `backfill legacy` writes, read ahead on connections of their own while the
/// current one is written: listing a page (its keys, and which programs are behind) is
/// quick and gives the key the next page starts after, so up to `depth` pages are listed and
/// prepared (their versions read and written as JSON) at once. On two cores the database
/// writing one page, the database reading the next and this process encoding a third keep
/// both busy. Each step runs in a short read-only transaction without JIT, as the check's do.
struct LegacyPagePipeline {
    private struct Pending {
        var listing: Task<LegacyBackfillBatch.Page, any Error>
        var prepared: Task<LegacyBackfillBatch.Page, any Error>
        var pageSize: Int
    }

    private let batch: LegacyBackfillBatch
    private let pool: PGPool
    private let depth: Int
    private let limit: Int?
    private var batchSize: Int
    private var pending: [Pending] = []
    /// The page started last (still pending or not): the next one starts after its keys.
    private var newest: Pending?
    /// Records the started pages will cover at most, for `limit`.
    private var planned = 0
    private var exhausted = false

    /// Starts with the page after `cursor`.
    init(batch: LegacyBackfillBatch, pool: PGPool, after cursor: UUID?, batchSize: Int, limit: Int?, depth: Int = 2) {
        self.batch = batch
        self.pool = pool
        self.depth = max(1, depth)
        self.limit = limit
        self.batchSize = max(1, batchSize)
        start(after: cursor)
    }

    /// The next page in key order, prepared; nil after the last.
    mutating func next() async throws -> LegacyBackfillBatch.Page? {
        guard !pending.isEmpty else { return nil }
        let current = pending.removeFirst()
        try await fillAhead()
        return try await current.prepared.value
    }

    /// The size of pages started from now on (those already read ahead keep theirs).
    mutating func resize(_ size: Int) {
        batchSize = max(1, size)
    }

    /// Stops every page still being read and waits until each has ended.
    func stop() async {
        for page in pending {
            page.listing.cancel()
            page.prepared.cancel()
        }
        for page in pending {
            _ = try? await page.listing.value
            _ = try? await page.prepared.value
        }
    }

    /// Starts pages until `depth` are pending, each after the last one's listing.
    private mutating func fillAhead() async throws {
        while pending.count < depth, !exhausted, let last = newest {
            let listed = try await last.listing.value
            guard listed.scanned >= last.pageSize, let key = listed.lastKey else {
                exhausted = true
                return
            }
            start(after: key)
        }
    }

    private mutating func start(after cursor: UUID?) {
        let pageSize = min(batchSize, limit.map { $0 - planned } ?? Int.max)
        guard pageSize > 0 else {
            exhausted = true
            return
        }
        planned += pageSize
        let (batch, pool) = (self.batch, self.pool)
        let listing = Task {
            try await Self.readOnly(pool) { try await batch.list(after: cursor, pageSize: pageSize, on: $0) }
        }
        let prepared = Task {
            let listed = try await listing.value
            return try await Self.readOnly(pool) { try await batch.prepare(listed, on: $0) }
        }
        let page = Pending(listing: listing, prepared: prepared, pageSize: pageSize)
        pending.append(page)
        newest = page
    }

    private static func readOnly<T: Sendable>(
        _ pool: PGPool, _ body: @escaping @Sendable (PGConnection) async throws -> T
    ) async throws -> T {
        try await pool.transaction { connection in
            // Compiling a page's statements would cost more than running them.
            try await connection.executeScript(unsafeSQL: "SET TRANSACTION READ ONLY; SET LOCAL jit = off")
            return try await body(connection)
        }
    }
}
