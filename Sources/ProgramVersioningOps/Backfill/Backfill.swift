import Foundation
import Logging
import PostgresDriver
import ProgramVersioning
import RuntimeFlags

/// What one batch saw and did.
struct BackfillBatchOutcome {
    var counts = BackfillCounts()
    /// Records the page covered (a program may vanish between the page and its lock).
    var scanned = 0
    /// The page's last key: where the next batch starts.
    var lastKey: UUID?
    var reports: [BackfillReport] = []
    /// Rows the batch skipped because another transaction held them (not counted as seen).
    var deferred: [UUID] = []
}

/// Phase 3 of the rollout: turns legacy programs into versions (`.programs`) and links old
/// sessions and sets to version rows (`.sessions`); and the way back from phase 5: legacy
/// JSON regenerated from the latest versions (`.legacy`). In keyset-paginated batches of
/// one transaction each, while the app keeps running.
///
/// A run holds a session advisory lock, so two backfills never run at once; records its
/// flags, options, counts and cursor in `backfill_runs` (a killed or failed run is resumed
/// by the next invocation of the same kind and scope); puts every record it cannot migrate
/// in `backfill_reports`; and audits the tables before and after. A dry run does the same
/// reading and classifying, writes nothing, and stores no run row.
public struct Backfill: Sendable {
    /// The advisory lock key all backfills share ("pvbackfi").
    static let lockKey = 0x7076_6261_636b_6669

    let pool: PGPool
    private let logger: Logger

    public init(pool: PGPool, logger: Logger = Logger(label: "ProgramVersioning.backfill", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.pool = pool
        self.logger = logger
    }

    /// Runs a backfill to the end (or `options.limit`), calling `progress` after each batch
    /// and while it waits. With `stop` requested it finishes the batch in hand and ends
    /// INTERRUPTED (the next run resumes it).
    public func run(
        _ kind: BackfillKind, options: BackfillOptions, stop: StopRequest? = nil,
        progress: @Sendable (BackfillProgress) -> Void = { _ in }
    ) async throws(BackfillError) -> BackfillSummary {
        var runID: UUID?
        do {
            return try await withLock { connection in
                var summary = try await runLocked(kind, options: options, stop: stop, on: connection, progress: progress) { runID = $0 }
                guard summary.status == .succeeded else { return summary }
                if kind == .legacy, !options.dryRun, let request = options.turnLegacyReadOnlyOff {
                    summary.writtenAtFlagOff = try await turnLegacyReadOnlyOff(request, runID: summary.runID, on: connection)
                    summary.legacyReadOnlyTurnedOff = true
                }
                return summary
            }
        } catch {
            throw BackfillError(error, runID: runID)
        }
    }

    /// The last step of `backfill legacy --flag-off`, one transaction: the phase lock taken
    /// exclusively (saves in flight finish, new ones wait), what the app saved since its
    /// program's batch written back, the flag turned off (its own rule checks that nothing
    /// is behind). Saves wait only for this step, bounded by the flag store's lock timeout.
    private func turnLegacyReadOnlyOff(_ request: FlagFlipRequest, runID: UUID, on connection: PGConnection) async throws -> Int {
        try await connection.transaction { connection in
            try await connection.query("SELECT set_config('lock_timeout', \(FlagStore.lockTimeoutSetting), true)")
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(LegacyWriterLock.key))")
            } catch let error as PGError {
                if let refused = FlagChangeRefused.from(error) { throw refused }
                throw error
            }
            let batch = LegacyBackfillBatch(runID: runID, dryRun: false, userID: nil)
            let behind = try await batch.readBehindNow(on: connection)
            // Here the rows are waited for (within the lock timeout), not skipped: the flag
            // turns off only with nothing behind.
            try await connection.query("""
                SELECT 1 FROM programs WHERE id = ANY(\(behind.behind.map(\.programID))) ORDER BY id FOR UPDATE
                """)
            let last = try await batch.write(behind, on: connection)
            try await FlagStore.set(.legacyReadOnly, enabled: false, actor: request.actor, reason: request.reason, force: false, on: connection)
            logger.notice("PROGRAM_VERSIONING_LEGACY_READONLY turned off after the write-back", metadata: [
                "run": "\(runID)", "writtenAtFlip": "\(last.counts.written)",
            ])
            return last.counts.written
        }
    }

    /// Runs `body` on one connection holding the backfill lock, and lets go of it after.
    func withLock<T: Sendable>(_ body: (PGConnection) async throws -> T) async throws -> T {
        try await pool.withConnection { connection in
            try await lock(on: connection)
            do {
                let value = try await body(connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))")
                return value
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))")
                throw error
            }
        }
    }

    private func lock(on connection: PGConnection) async throws {
        let readOnly = try await connection.query("""
            SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'
            """).single().decode((Bool, Bool).self)
        if readOnly.0 || readOnly.1 { throw BackfillError.readOnlyDatabase(standby: readOnly.0) }
        let locked = try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey))").single().decode(Bool.self, at: 0)
        guard !locked else { return }
        let holder = try await connection.query("""
            SELECT 'pid ' || a.pid || coalesce(' (' || nullif(a.application_name, '') || ')', '')
                   || ', connected since ' || to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
              FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.classid::text::int8 = \(Self.lockKey >> 32) AND l.objid::text::int8 = \(Self.lockKey & 0xFFFF_FFFF)
            """).first?.decode(String.self, at: 0)
        throw BackfillError.anotherRunActive(holder: holder ?? "holder unknown")
    }

    /// The whole run on a connection holding the lock (see `BackfillRun`).
    func runLocked(
        _ kind: BackfillKind, options: BackfillOptions, repair: BackfillRepairList? = nil, stop: StopRequest? = nil,
        on connection: PGConnection, progress: (BackfillProgress) -> Void, announce: (UUID) -> Void
    ) async throws -> BackfillSummary {
        if let why = options.workersProblem(for: kind, repair: repair != nil) { throw BackfillError.workersNotPossible(why) }
        if kind == .programs, !options.dryRun, !options.allowWritesOff {
            guard try await FlagStore(pool: pool).snapshot().writes else { throw BackfillError.writesOff }
        }
        if kind != .sessions, try await LegacyRetirement.inForce(on: connection) != nil {
            throw BackfillError.legacyRetired
        }
        return try await Self.withRunTimeouts(options, on: connection) { connection in
            var run = try await BackfillRun.open(
                kind, options: options, repair: repair, stop: stop, pool: pool, on: connection, logger: logger, announce: announce)
            return try await withoutActuallyEscaping(progress) { try await run.execute(progress: $0) }
        }
    }

    /// Runs `body` with the run's bounds on every statement of `connection` (a lock wait of
    /// `lockTimeout`, a statement of `statementTimeout`); the connection gets its own settings
    /// back after, however `body` ends (it may go back to a pool).
    static func withRunTimeouts<T>(
        _ options: BackfillOptions, on connection: PGConnection, _ body: (PGConnection) async throws -> T
    ) async throws -> T {
        try await connection.query("""
            SELECT set_config('lock_timeout', \(milliseconds(options.lockTimeout)), false),
                   set_config('statement_timeout', \(milliseconds(options.statementTimeout)), false)
            """)
        do {
            let value = try await body(connection)
            try await connection.executeScript(unsafeSQL: "RESET lock_timeout; RESET statement_timeout")
            return value
        } catch {
            _ = try? await connection.executeScript(unsafeSQL: "RESET lock_timeout; RESET statement_timeout")
            throw error
        }
    }

    static func milliseconds(_ duration: Duration) -> String {
        "\(max(1, Int((duration.seconds * 1_000).rounded())))ms"
    }

    /// The stored reports name exactly as many programs, sessions and sets as were counted.
    static func reportsMatch(_ counts: BackfillCounts, kind: BackfillKind, runID: UUID, on connection: PGConnection) async throws -> Bool {
        let row = try await connection.query("""
            SELECT count(DISTINCT program_id) FILTER (WHERE session_id IS NULL),
                   count(DISTINCT session_id) FILTER (WHERE logged_set_id IS NULL AND session_id IS NOT NULL),
                   count(*) FILTER (WHERE logged_set_id IS NOT NULL)
              FROM backfill_reports WHERE run_id = \(runID)
            """).single()
        let (programs, sessions, sets) = try row.decode((Int, Int, Int).self)
        switch kind {
        case .programs, .legacy: return programs == counts.reported
        case .sessions: return sessions == counts.reported && sets == counts.setsReported
        }
    }
}
