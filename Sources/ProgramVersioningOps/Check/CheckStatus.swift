import Foundation
import PostgresDriver

/// What `check status` shows: the control row, the checks not finished (running, stale,
/// interrupted, failed: each resumed by the next check of its scope) and the latest
/// finished runs.
public struct CheckStatus: Sendable {
    public struct Unfinished: Sendable {
        public var runID: UUID
        public var state: CheckProgressState
        public var startedAt: Date
        public var readFrom: String?
        public var recordedBy: String
        public var programsChecked: Int
        public var sessionsChecked: Int
        public var total: Int?
        public var secondsSinceHeartbeat: Double
        public var client: String?
        public var throttled: String?
        public var error: String?
    }

    public struct Finished: Sendable {
        public var runID: UUID
        public var status: CheckRunStatus
        public var finishedAt: Date?
        public var differenceCount: Int
        public var readFrom: String?
        public var recordedBy: String?
    }

    public var control: BackgroundControl
    public var unfinished: [Unfinished]
    public var finished: [Finished]

    public static func load(pool: PGPool) async throws -> CheckStatus {
        try await pool.withConnection { connection in
            let control = try await BackgroundControl.read(.check, on: connection)
            let unfinished = try await connection.query("""
                SELECT run_id,
                       CASE WHEN status = 'RUNNING' AND heartbeat_at < now() - make_interval(secs => \(CheckProgress.staleAfterSeconds))
                            THEN 'STALE' ELSE status END,
                       started_at, read_from, recorded_by, programs_checked, sessions_checked, total,
                       extract(epoch FROM now() - heartbeat_at)::float8, client, throttled, error
                  FROM check_progress ORDER BY started_at DESC
                """).map { row in
                let (id, state, startedAt, readFrom, recordedBy, programs) = try row.decode((UUID, CheckProgressState, Date, String?, String, Int).self)
                let (sessions, total, since, client, throttled, error) = try (
                    row.decode(Int.self, at: 6), row.decode(Int?.self, at: 7), row.decode(Double.self, at: 8), row.decode(String?.self, at: 9),
                    row.decode(String?.self, at: 10), row.decode(String?.self, at: 11))
                return Unfinished(
                    runID: id, state: state, startedAt: startedAt, readFrom: readFrom, recordedBy: recordedBy, programsChecked: programs,
                    sessionsChecked: sessions, total: total, secondsSinceHeartbeat: since, client: client,
                    throttled: state == .running ? throttled : nil, error: error)
            }
            let finished = try await connection.query("""
                SELECT id, status, finished_at, difference_count, read_from, recorded_by FROM check_runs
                 ORDER BY coalesce(finished_at, started_at) DESC LIMIT 5
                """).map { row in
                let (id, status, finishedAt, count, readFrom, recordedBy) = try row.decode((UUID, CheckRunStatus, Date?, Int, String?, String?).self)
                return Finished(runID: id, status: status, finishedAt: finishedAt, differenceCount: count, readFrom: readFrom, recordedBy: recordedBy)
            }
            return CheckStatus(control: control, unfinished: unfinished, finished: finished)
        }
    }
}
