import Foundation
import Logging
import PostgresDriver
import RuntimeFlags

/// What one batch saw and did.
struct BackfillBatchOutcome {
    var counts = BackfillCounts()
    /// Records the page covered (a program may vanish between the page and its lock).
    var scanned = 0
    /// The page's last key: where the next batch starts.
    var lastKey: UUID?
    var reports: [BackfillReport] = []
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

    let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "ProgramVersioning.backfill")) {
        self.pool = pool
        self.logger = logger
    }

    /// Runs a backfill to the end (or `options.limit`), calling `progress` after each batch.
    public func run(
        _ kind: BackfillKind, options: BackfillOptions, progress: @Sendable (BackfillProgress) -> Void = { _ in }
    ) async throws(BackfillError) -> BackfillSummary {
        var runID: UUID?
        do {
            return try await withLock { connection in
                var summary = try await runLocked(kind, options: options, on: connection, progress: progress) { runID = $0 }
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
    private func turnLegacyReadOnlyOff(_ request: FlagFlipRequest, runID: UUID, on connection: PostgresConnection) async throws -> Int {
        try await connection.transaction { connection in
            try await connection.query("SELECT set_config('lock_timeout', \(FlagStore.lockTimeoutSetting), true)")
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(LegacyWriterLock.key))")
            } catch let error as PostgresError {
                if let refused = FlagChangeRefused.from(error) { throw refused }
                throw error
            }
            let batch = LegacyBackfillBatch(runID: runID, dryRun: false, userID: nil)
            let last = try await batch.write(try await batch.readBehindNow(on: connection), on: connection)
            try await FlagStore.set(.legacyReadOnly, enabled: false, actor: request.actor, reason: request.reason, force: false, on: connection)
            logger.notice("PROGRAM_VERSIONING_LEGACY_READONLY turned off after the write-back", metadata: [
                "run": "\(runID)", "writtenAtFlip": "\(last.counts.written)",
            ])
            return last.counts.written
        }
    }

    /// Runs `body` on one connection holding the backfill lock, and lets go of it after.
    func withLock<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
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

    private func lock(on connection: PostgresConnection) async throws {
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

    /// The whole run on a connection holding the lock: every program or session in key
    /// order, or (`repair`) only the programs a check named, in batches all the same.
    func runLocked(
        _ kind: BackfillKind, options: BackfillOptions, repair: BackfillRepairList? = nil, on connection: PostgresConnection,
        progress: (BackfillProgress) -> Void, announce: (UUID) -> Void
    ) async throws -> BackfillSummary {
        let startedAt = Date()
        let clock = ContinuousClock.now
        if kind == .programs, !options.dryRun, !options.allowWritesOff {
            guard try await FlagStore(pool: pool).snapshot().writes else { throw BackfillError.writesOff }
        }
        if kind != .sessions, try await LegacyRetirement.inForce(on: connection) != nil {
            throw BackfillError.legacyRetired
        }
        let before = try await BackfillAudit.counts(userID: options.userID, on: connection)
        let ledger = options.dryRun
            ? nil
            : try await BackfillLedger.open(kind, options: options, countsBefore: before, repairOfCheck: repair?.checkRunID, on: connection)
        let runID = ledger?.runID ?? UUID()
        announce(runID)
        if let ledger, ledger.resumed {
            logger.info("resuming backfill run", metadata: ["run": "\(runID)", "cursor": "\(ledger.cursor?.uuidString ?? "-")"])
        }

        var cursor = ledger?.cursor
        var counts = ledger?.counts ?? BackfillCounts()
        var reports: [BackfillReport] = []
        var reasons: [String: Int] = [:]
        var scannedNow = 0
        let total = repair?.programIDs.count ?? (kind == .sessions ? before.sessions : before.programs)
        var statistics = kind == .programs && !options.dryRun ? try await VersionTableStatistics.read(on: connection) : nil
        do {
            let backup = try await options.backupDirectory.asyncMap { directory in
                try await BackfillBackup.write(kind, runID: runID, userID: options.userID, to: directory, on: connection)
            }
            let programBatch = ProgramBackfillBatch(runID: runID, dryRun: options.dryRun, userID: options.userID)
            let sessionBatch = SessionBackfillBatch(runID: runID, dryRun: options.dryRun, userID: options.userID)
            let legacyBatch = LegacyBackfillBatch(runID: runID, dryRun: options.dryRun, userID: options.userID)
            // `backfill legacy` reads pages ahead while this one is written (see `LegacyPagePipeline`).
            var pages = kind == .legacy
                ? LegacyPagePipeline(batch: legacyBatch, pool: pool, after: cursor, batchSize: options.batchSize, limit: options.limit)
                : nil
            defer { pages?.cancel() }
            while true {
                let remaining = options.limit.map { $0 - scannedNow } ?? Int.max
                guard remaining > 0 else { break }
                let pageSize = min(max(1, options.batchSize), remaining)
                let legacyPage = try await pages?.next()
                if kind == .legacy, legacyPage == nil { break }
                let outcome = try await batchTransaction(on: connection, dryRun: options.dryRun) { connection in
                    let outcome = switch kind {
                    case .programs:
                        if let repair {
                            try await programBatch.run(listed: repair.programIDs.dropFirst(scannedNow).prefix(pageSize), on: connection)
                        } else {
                            try await programBatch.run(after: cursor, pageSize: pageSize, on: connection)
                        }
                    case .sessions:
                        try await sessionBatch.run(after: cursor, pageSize: pageSize, on: connection)
                    case .legacy:
                        try await legacyBatch.write(legacyPage ?? LegacyBackfillBatch.Page(), on: connection)
                    }
                    guard outcome.counts.addsUp(for: kind) else { throw BackfillError.countsDoNotAddUp(runID: runID, outcome.counts) }
                    if let ledger, let key = outcome.lastKey { try await ledger.advance(by: outcome.counts, to: key, on: connection) }
                    return outcome
                }
                counts += outcome.counts
                if let current = statistics, outcome.counts.migrated > 0 {
                    statistics = nil
                    await current.refreshIfNearlyEmpty(on: connection, logger: logger)
                }
                scannedNow += outcome.scanned
                cursor = outcome.lastKey ?? cursor
                reports += outcome.reports.prefix(max(0, 1_000 - reports.count))
                for report in outcome.reports { reasons[report.reason, default: 0] += 1 }
                progress(BackfillProgress(kind: kind, counts: counts, total: total, elapsed: clock.duration(to: .now)))
                if outcome.scanned < pageSize { break }
            }
            let after = try await BackfillAudit.counts(userID: options.userID, on: connection)
            let audit = BackfillAudit(
                before: ledger?.countsBefore ?? before, after: after,
                invalidLinks: try await BackfillAudit.invalidLinks(userID: options.userID, on: connection))
            if let ledger {
                counts = try await ledger.finish(status: "SUCCEEDED", countsAfter: after, error: nil, on: connection)
                guard counts.addsUp(for: kind), try await reportsMatch(counts, kind: kind, runID: runID, on: connection) else {
                    throw BackfillError.countsDoNotAddUp(runID: runID, counts)
                }
                // A resumed run's earlier batches reported too: count what is stored.
                reasons = try await Dictionary(uniqueKeysWithValues: connection.query("""
                    SELECT reason, count(*) FROM backfill_reports WHERE run_id = \(runID) GROUP BY reason
                    """).map { try $0.decode((String, Int).self) })
            }
            return BackfillSummary(
                runID: runID, kind: kind, dryRun: options.dryRun, resumed: ledger?.resumed ?? false, counts: counts,
                status: "SUCCEEDED", startedAt: startedAt, finishedAt: Date(), audit: audit, reports: reports,
                reportsByReason: reasons, backup: backup)
        } catch {
            if let ledger {
                let reason = (error as? BackfillError)?.description ?? "\(error)"
                _ = try? await ledger.finish(status: "FAILED", countsAfter: nil, error: reason, on: connection)
            }
            throw error
        }
    }

    /// The stored reports name exactly as many programs, sessions and sets as were counted.
    private func reportsMatch(_ counts: BackfillCounts, kind: BackfillKind, runID: UUID, on connection: PostgresConnection) async throws -> Bool {
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

    /// A batch's transaction; a dry run's is always rolled back (belt and braces: a dry
    /// batch sends no writing statement that could change a row).
    private func batchTransaction<T: Sendable>(
        on connection: PostgresConnection, dryRun: Bool, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard dryRun else { return try await connection.transaction(body) }
        try await connection.query("BEGIN")
        do {
            let value = try await body(connection)
            try await connection.query("ROLLBACK")
            return value
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
