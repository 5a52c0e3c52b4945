import Foundation
import PostgresDriver

/// Where an unfinished check is (`check_progress`, migration 21): a cursor per walk, the
/// counts, and what it found so far (`check_progress_findings`), written page by page in
/// the database the run is recorded in. A check that died (killed, crashed, lost its
/// connection) or was interrupted is taken over by the next check of the same scope and
/// flags run by the same login, within a day: it starts each walk after its last recorded
/// page. A finished check deletes its progress; the run itself is then one append-only row
/// of `check_runs`, as before.
struct CheckProgress: Sendable {
    let runID: UUID
    /// When the run first started (a resumed run keeps it: the gates count from there).
    let startedAt: Date
    /// What the replica had replayed when the run first started, reading a standby.
    let dataAsOf: Date?
    let resumed: Bool
    /// Per walk: the last key of its last recorded page, or "done".
    let cursors: [String: String]
    let programsChecked: Int
    let sessionsChecked: Int
    let legacyBehind: Int
    /// What the run found before it was resumed, in the order found.
    let findings: [CheckDifference]

    static let done = "done"
    /// A RUNNING row whose heartbeat is older than this has lost its process.
    static let staleAfterSeconds = 60

    /// Takes over the newest resumable progress of this scope, flags and login, or starts a new one.
    static func open(
        userID: UUID?, flags: String, readFrom: String, dataAsOf: Date?, total: Int, pool: PGPool
    ) async throws -> CheckProgress {
        try await pool.transaction { connection in
            let taken = try await connection.query("""
                UPDATE check_progress p
                   SET status = 'RUNNING', heartbeat_at = now(), backend_pid = pg_backend_pid(), client = \(BackfillLedger.client),
                       throttled = NULL, error = NULL, total = \(total)
                 WHERE p.run_id = (
                         SELECT run_id FROM check_progress
                          WHERE recorded_by = session_user AND user_filter IS NOT DISTINCT FROM \(userID) AND flags = \(flags)::jsonb
                            AND read_from = \(readFrom) AND started_at > now() - interval '1 day'
                            AND (status <> 'RUNNING' OR heartbeat_at < now() - make_interval(secs => \(staleAfterSeconds)))
                          ORDER BY started_at DESC LIMIT 1
                            FOR UPDATE SKIP LOCKED)
                RETURNING p.run_id, p.started_at, p.data_as_of, p.cursors::text, p.programs_checked, p.sessions_checked, p.legacy_behind
                """).first
            if let taken {
                let (runID, startedAt, dataAsOf, cursors, programs, sessions, behind) =
                    try taken.decode((UUID, Date, Date?, String, Int, Int, Int).self)
                let findings = try await connection.query("""
                    SELECT program_id, session_id, kind, path, legacy, versioned, ignore_reason
                      FROM check_progress_findings WHERE run_id = \(runID) ORDER BY n
                    """).compactMap { row -> CheckDifference? in
                    let (programID, sessionID, kind, path, legacy, versioned, ignored) =
                        try row.decode((UUID?, UUID?, String, String?, String?, String?, String?).self)
                    guard let kind = DifferenceKind(rawValue: kind) else { return nil }
                    var difference = CheckDifference(programID: programID, sessionID: sessionID, kind: kind, path: path, legacy: legacy, versioned: versioned)
                    difference.ignoredBecause = ignored
                    return difference
                }
                let decoded = (try? JSONSerialization.jsonObject(with: Data(cursors.utf8))) as? [String: String] ?? [:]
                return CheckProgress(
                    runID: runID, startedAt: startedAt, dataAsOf: dataAsOf, resumed: true, cursors: decoded, programsChecked: programs,
                    sessionsChecked: sessions, legacyBehind: behind, findings: findings)
            }
            let runID = UUID()
            let startedAt = Date()
            try await connection.query("""
                INSERT INTO check_progress
                  (run_id, user_filter, started_at, data_as_of, read_from, flags, total, backend_pid, client, recorded_by)
                VALUES (\(runID), \(userID), \(startedAt), \(dataAsOf), \(readFrom), \(flags)::jsonb, \(total), pg_backend_pid(),
                        \(BackfillLedger.client), session_user)
                """)
            return CheckProgress(
                runID: runID, startedAt: startedAt, dataAsOf: dataAsOf, resumed: false, cursors: [:], programsChecked: 0,
                sessionsChecked: 0, legacyBehind: 0, findings: [])
        }
    }

    /// One page of one walk, in one transaction: its findings, its last key (or "done"),
    /// its counts; the heartbeat with it.
    func record(walk: String, cursor: String, programs: Int, sessions: Int, legacyBehind: Int, findings: [CheckDifference], pool: PGPool) async throws {
        try await pool.transaction { connection in
            if !findings.isEmpty {
                try await connection.query("""
                    INSERT INTO check_progress_findings (run_id, program_id, session_id, kind, path, legacy, versioned, ignore_reason)
                    SELECT \(runID), f.program_id, f.session_id, f.kind, f.path, f.legacy, f.versioned, f.ignore_reason
                      FROM unnest(\(findings.map(\.programID))::uuid[], \(findings.map(\.sessionID))::uuid[],
                                  \(findings.map(\.kind.rawValue))::text[], \(findings.map(\.path))::text[], \(findings.map(\.legacy))::text[],
                                  \(findings.map(\.versioned))::text[], \(findings.map(\.ignoredBecause))::text[])
                           WITH ORDINALITY AS f(program_id, session_id, kind, path, legacy, versioned, ignore_reason, n)
                     ORDER BY f.n
                    """)
            }
            try await connection.query("""
                UPDATE check_progress
                   SET cursors = jsonb_set(cursors, ARRAY[\(walk)::text], to_jsonb(\(cursor)::text)),
                       programs_checked = programs_checked + \(programs), sessions_checked = sessions_checked + \(sessions),
                       legacy_behind = legacy_behind + \(legacyBehind), heartbeat_at = now()
                 WHERE run_id = \(runID)
                """)
        }
    }

    /// Why the run waits now (nil: it works again), with the heartbeat.
    func show(throttled reason: String?, pool: PGPool) async throws {
        try await pool.query("UPDATE check_progress SET throttled = \(reason), heartbeat_at = now() WHERE run_id = \(runID)")
    }

    /// The run stopped before the end; the next check resumes it.
    func stopped(_ status: CheckProgressState, why: String, pool: PGPool) async throws {
        try await pool.query("""
            UPDATE check_progress SET status = \(status), error = \(why), throttled = NULL, heartbeat_at = now() WHERE run_id = \(runID)
            """)
    }

    /// The run is recorded in `check_runs`: its scratch goes.
    func finished(pool: PGPool) async throws {
        try await pool.query("DELETE FROM check_progress WHERE run_id = \(runID)")
    }
}
