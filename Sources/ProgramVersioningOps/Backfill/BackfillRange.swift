import Foundation
import PostgresDriver

/// A part of the program id space: `start` inclusive, `end` exclusive; nil is open.
struct KeyRange: Sendable, Equatable {
    var start: UUID?
    var end: UUID?

    static let all = KeyRange(start: nil, end: nil)
}

/// One worker's range of `backfill programs --workers N`, as stored in
/// `backfill_run_ranges`: its bounds, fixed when the run started, its keyset cursor and the
/// rows its batches skipped because another transaction held them. A worker's batch moves
/// its row in the batch's own transaction (`BackfillLedger.advance`), so a resumed run picks
/// every range up after its last committed batch.
struct BackfillRange: Sendable, Equatable {
    var worker: Int
    var keys: KeyRange
    var cursor: UUID?
    var deferred: [UUID] = []

    /// Above this many programs the bounds are taken from a sample of about this many ids:
    /// a run's ranges then cost one sampled read, whatever the table's size.
    static let sampledIDs = 100_000.0

    /// Up to `workers` ranges that hold about as many programs each: the bounds are
    /// quantiles of the ids in use (of the user's programs with `userID`), so random and
    /// time-ordered ids split alike. Fewer ranges when there are too few programs to tell
    /// bounds apart (none for an empty table: one range, all of it).
    static func split(into workers: Int, userID: UUID?, on connection: PGConnection) async throws -> [BackfillRange] {
        guard workers > 1 else { return [BackfillRange(worker: 1, keys: .all)] }
        let estimated = try await connection.query("""
            SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'programs'::regclass
            """).single().decode(Double.self, at: 0)
        // A user's programs are few and read by their index: never sampled.
        let percent = userID == nil && estimated > Self.sampledIDs ? 100 * Self.sampledIDs / estimated : 100
        let bounds = try await connection.query("""
            SELECT percentile_disc(ARRAY(SELECT g::float8 / \(workers) FROM generate_series(1, \(workers) - 1) g))
                   WITHIN GROUP (ORDER BY id)
              FROM programs TABLESAMPLE SYSTEM (\(percent)::float8)
             WHERE \(userID)::uuid IS NULL OR user_id = \(userID)
            """).single().decode([UUID?]?.self, at: 0)
        // Quantiles of ascending fractions come in ascending order: equal neighbours go.
        var distinct: [UUID] = []
        for bound in (bounds ?? []).compactMap({ $0 }) where distinct.last != bound {
            distinct.append(bound)
        }
        let starts: [UUID?] = [nil] + distinct.map(Optional.some)
        let ends: [UUID?] = distinct.map(Optional.some) + [nil]
        return zip(starts, ends).enumerated().map { index, bound in
            BackfillRange(worker: index + 1, keys: KeyRange(start: bound.0, end: bound.1))
        }
    }

    /// The ranges of `runID` as its committed batches left them, in worker order (none:
    /// the run has not stored its ranges yet).
    static func load(runID: UUID, on connection: PGConnection) async throws -> [BackfillRange] {
        try await connection.query("""
            SELECT worker, range_start, range_end, cursor_key, deferred FROM backfill_run_ranges WHERE run_id = \(runID) ORDER BY worker
            """).map { row in
            let (worker, start, end, cursor, deferred) = try row.decode((Int, UUID?, UUID?, UUID?, [UUID]).self)
            return BackfillRange(worker: worker, keys: KeyRange(start: start, end: end), cursor: cursor, deferred: deferred)
        }
    }

    /// Stores new ranges of `runID` (before any of their batches).
    static func store(_ ranges: [BackfillRange], runID: UUID, on connection: PGConnection) async throws {
        try await connection.query("""
            INSERT INTO backfill_run_ranges (run_id, worker, range_start, range_end)
            SELECT \(runID), r.worker, r.range_start, r.range_end
              FROM unnest(\(ranges.map(\.worker))::int[], \(ranges.map(\.keys.start))::uuid[], \(ranges.map(\.keys.end))::uuid[])
                   AS r(worker, range_start, range_end)
            """)
    }

    /// Once every range is walked: the rows their batches skipped move to the run's own
    /// list (which the come-back sweeps work from and keep up to date), in one transaction,
    /// so a run killed after this resumes with them in one place. Returns the run's list.
    static func gatherDeferred(runID: UUID, on connection: PGConnection) async throws -> [UUID] {
        try await connection.transaction { connection in
            let gathered = try await connection.query("""
                UPDATE backfill_runs
                   SET deferred = coalesce(deferred, '{}') || (SELECT coalesce(array_agg(d ORDER BY d), '{}')
                                                                FROM backfill_run_ranges r, unnest(r.deferred) d
                                                               WHERE r.run_id = \(runID))
                 WHERE id = \(runID)
                RETURNING deferred
                """).single().decode([UUID].self, at: 0)
            try await connection.query("UPDATE backfill_run_ranges SET deferred = '{}' WHERE run_id = \(runID) AND deferred <> '{}'")
            return gathered
        }
    }

    /// Deletes the ranges of a run that succeeded.
    static func forget(runID: UUID, on connection: PGConnection) async throws {
        try await connection.query("DELETE FROM backfill_run_ranges WHERE run_id = \(runID)")
    }
}
