import Foundation
import PostgresDriver

/// What `backfill status` shows: the control row and the latest runs, each with its state
/// as it really is. A RUNNING row whose session no longer holds the backfill lock has lost
/// its process (killed, machine gone): it shows as STALE, and the next run of its kind
/// resumes it.
public struct BackfillStatus: Sendable {
    public struct Run: Sendable {
        public var id: UUID
        public var kind: BackfillKind
        public var state: BackfillRunState
        public var startedAt: Date
        public var finishedAt: Date?
        public var heartbeatAt: Date?
        public var secondsSinceHeartbeat: Double?
        public var client: String?
        public var seen: Int
        public var total: Int?
        public var reported: Int
        public var batchSize: Int?
        public var deferred: Int
        /// `backfill programs --workers N`: N (a resumed run needs the same).
        public var workers: Int
        /// Why it waits now, while it runs.
        public var throttled: String?
        public var throttledSeconds: Double?
        public var error: String?
    }

    public var control: BackgroundControl
    /// Newest first.
    public var runs: [Run]

    public static func load(pool: PGPool, limit: Int = 5) async throws -> BackfillStatus {
        try await pool.withConnection { connection in
            let control = try await BackgroundControl.read(.backfill, on: connection)
            let runs = try await connection.query("""
                SELECT r.id, r.kind,
                       CASE WHEN r.status = 'RUNNING' AND NOT EXISTS (
                                   SELECT 1 FROM pg_locks l
                                    WHERE l.locktype = 'advisory' AND l.granted AND l.pid = r.backend_pid
                                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                                      AND l.classid::text::int8 = \(Backfill.lockKey >> 32)
                                      AND l.objid::text::int8 = \(Backfill.lockKey & 0xFFFF_FFFF))
                            THEN 'STALE' ELSE r.status END,
                       r.started_at, r.finished_at, r.heartbeat_at, extract(epoch FROM now() - r.heartbeat_at)::float8, r.client,
                       r.seen, r.total, r.reported, r.batch_size,
                       coalesce(cardinality(r.deferred), 0)
                         + (SELECT coalesce(sum(cardinality(g.deferred)), 0)::int FROM backfill_run_ranges g WHERE g.run_id = r.id),
                       r.throttled, r.throttled_seconds, r.error, coalesce((r.options->>'workers')::int, 1)
                  FROM backfill_runs r
                 WHERE NOT r.dry_run
                 ORDER BY r.started_at DESC
                 LIMIT \(limit)
                """).map { row in
                let (id, kind, state, startedAt, finishedAt, heartbeatAt, sinceHeartbeat, client) =
                    try row.decode((UUID, BackfillKind, BackfillRunState, Date, Date?, Date?, Double?, String?).self)
                let (seen, total, reported, batchSize, deferred, throttled, throttledSeconds, error) = try (
                    row.decode(Int.self, at: 8), row.decode(Int?.self, at: 9), row.decode(Int.self, at: 10), row.decode(Int?.self, at: 11),
                    row.decode(Int.self, at: 12), row.decode(String?.self, at: 13), row.decode(Double?.self, at: 14),
                    row.decode(String?.self, at: 15))
                let workers = try row.decode(Int.self, at: 16)
                return Run(
                    id: id, kind: kind, state: state, startedAt: startedAt, finishedAt: finishedAt, heartbeatAt: heartbeatAt,
                    secondsSinceHeartbeat: sinceHeartbeat, client: client, seen: seen, total: total, reported: reported,
                    batchSize: batchSize, deferred: deferred, workers: workers, throttled: state == .running ? throttled : nil,
                    throttledSeconds: throttledSeconds, error: error)
            }
            return BackfillStatus(control: control, runs: runs)
        }
    }
}
