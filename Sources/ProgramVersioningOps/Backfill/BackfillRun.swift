import Foundation
import Logging
import PostgresDriver
import ProgramVersioning

/// One run of a backfill on the connection that holds the backfill lock: every program or
/// session in key order (or, for a repair, the programs a check named) in batches of one
/// transaction each, then the rows other transactions held, then the end: counts checked,
/// audit, statistics refreshed.
///
/// Between batches the run stops if asked (INTERRUPTED, resumable), waits while a throttle
/// signal says so, and sizes the next batch (`BatchPacer`). A batch never waits for a row
/// the app holds: it skips it and the run comes back for it after its last batch, for up to
/// `lockedRowPatience`, then reports what it never got (`ROW_LOCKED`). A batch whose
/// statement waited longer than the lock timeout (a table lock: a migration, a VACUUM FULL)
/// is rolled back and tried again after a growing pause.
struct BackfillRun {
    private let kind: BackfillKind
    private let options: BackfillOptions
    private let repair: BackfillRepairList?
    private let connection: PGConnection
    private let pool: PGPool
    private let logger: Logger
    private let ledger: BackfillLedger?
    let runID: UUID
    private let before: BackfillAudit.Counts
    private let total: Int
    private let startedAt = Date()
    private let clock = ContinuousClock.now
    private var pacer: BatchPacer
    private var cursor: UUID?
    private var counts: BackfillCounts
    /// Rows skipped because another transaction held them, in key order.
    private var deferred: [UUID]
    private var reports: [BackfillReport] = []
    private var reasons: [String: Int] = [:]
    private var scannedNow = 0
    private var batchSize = 0
    private var statistics: VersionTableStatistics?
    private var progress: (BackfillProgress) -> Void = { _ in }
    /// `--workers N`: the ranges walked at once, each by a `ProgramRangeWorker` (nil: one walk
    /// on this connection).
    private let ranges: [BackfillRange]?
    /// The longest any worker waited on throttle signals (they wait side by side).
    private var workersThrottled: Duration = .zero

    private init(
        kind: BackfillKind, options: BackfillOptions, repair: BackfillRepairList?, connection: PGConnection, pool: PGPool,
        logger: Logger, ledger: BackfillLedger?, runID: UUID, before: BackfillAudit.Counts, total: Int, pacer: BatchPacer,
        statistics: VersionTableStatistics?, ranges: [BackfillRange]?
    ) {
        (self.kind, self.options, self.repair, self.connection, self.pool, self.logger) = (kind, options, repair, connection, pool, logger)
        (self.ledger, self.runID, self.before, self.total, self.pacer, self.statistics) = (ledger, runID, before, total, pacer, statistics)
        self.ranges = ranges
        cursor = ledger?.cursor
        counts = ledger?.counts ?? BackfillCounts()
        deferred = ledger?.deferred ?? []
    }

    /// Opens (or resumes) the run's row and gets its pacing ready.
    static func open(
        _ kind: BackfillKind, options: BackfillOptions, repair: BackfillRepairList?, stop: StopRequest?, pool: PGPool,
        on connection: PGConnection, logger: Logger, announce: (UUID) -> Void
    ) async throws -> BackfillRun {
        let signals = ThrottleSignals(control: .backfill, options: options.throttle, writtenTables: kind.writtenTables, logger: logger)
        try await signals.prepare(on: connection)
        let before = try await BackfillAudit.counts(userID: options.userID, on: connection)
        let total = repair?.programIDs.count ?? (kind == .sessions ? before.sessions : before.programs)
        let ledger = options.dryRun
            ? nil
            : try await BackfillLedger.open(kind, options: options, countsBefore: before, total: total, repairOfCheck: repair?.checkRunID, on: connection)
        let runID = ledger?.runID ?? UUID()
        announce(runID)
        if let ledger, ledger.resumed {
            logger.info("resuming backfill run", metadata: [
                "run": "\(runID)", "cursor": "\(ledger.cursor?.uuidString ?? "-")", "deferred": "\(ledger.deferred.count)",
            ])
        }
        let statistics = kind == .programs && !options.dryRun ? try await VersionTableStatistics.read(on: connection) : nil
        let ranges = kind == .programs && repair == nil && options.workers > 1
            ? try await Self.ranges(runID: runID, ledger: ledger, options: options, on: connection)
            : nil
        return BackfillRun(
            kind: kind, options: options, repair: repair, connection: connection, pool: pool, logger: logger, ledger: ledger,
            runID: runID, before: ledger?.countsBefore ?? before, total: total,
            pacer: BatchPacer(signals: signals, fixedBatchSize: options.batchSize, options: options.throttle, stop: stop),
            statistics: statistics, ranges: ranges)
    }

    /// A resumed run's ranges as its committed batches left them; else new ones, stored
    /// before any batch (a dry run keeps them in memory).
    private static func ranges(runID: UUID, ledger: BackfillLedger?, options: BackfillOptions, on connection: PGConnection) async throws -> [BackfillRange] {
        if ledger != nil {
            let stored = try await BackfillRange.load(runID: runID, on: connection)
            if !stored.isEmpty { return stored }
        }
        let ranges = try await BackfillRange.split(into: options.workers, userID: options.userID, on: connection)
        if ledger != nil { try await BackfillRange.store(ranges, runID: runID, on: connection) }
        return ranges
    }

    private var throttledSoFar: Duration { pacer.throttled + workersThrottled }

    mutating func execute(progress: @escaping (BackfillProgress) -> Void) async throws -> BackfillSummary {
        self.progress = progress
        // The caller's closure must not outlive this call (it is not escaping there).
        defer { self.progress = { _ in } }
        do {
            let backup = try await options.backupDirectory.asyncMap { directory in
                try await BackfillBackup.write(kind, runID: runID, userID: options.userID, to: directory, on: connection)
            }
            let finished = try await walk()
            let done = try await finished ? comeBackForDeferred() : false
            guard done else { return try await interrupted(backup: backup) }
            return try await succeeded(backup: backup)
        } catch {
            if let ledger {
                let reason = (error as? BackfillError)?.description ?? "\(error)"
                _ = try? await ledger.finish(status: .failed, countsAfter: nil, error: reason, on: connection)
            }
            throw error
        }
    }

    // MARK: - The walk

    /// Every batch in key order (or the repair's list); false when a stop was asked for.
    private mutating func walk() async throws -> Bool {
        if let ranges { return try await walk(ranges) }
        let programBatch = ProgramBackfillBatch(runID: runID, dryRun: options.dryRun, userID: options.userID)
        let sessionBatch = SessionBackfillBatch(runID: runID, dryRun: options.dryRun, userID: options.userID)
        let legacyBatch = LegacyBackfillBatch(runID: runID, dryRun: options.dryRun, userID: options.userID)
        // `backfill legacy` reads pages ahead while this one is written (see `LegacyPagePipeline`).
        var pages = kind == .legacy
            ? LegacyPagePipeline(
                batch: legacyBatch, pool: pool, after: cursor, batchSize: pacer.sizer.next(override: nil), limit: options.limit)
            : nil
        // However the walk ends, the pages read ahead are stopped and waited for: none
        // outlives the run.
        let finished: Bool
        do {
            finished = try await walk(programBatch, sessionBatch, legacyBatch, pages: &pages)
        } catch {
            await pages?.stop()
            throw error
        }
        await pages?.stop()
        return finished
    }

    private mutating func walk(
        _ programBatch: ProgramBackfillBatch, _ sessionBatch: SessionBackfillBatch, _ legacyBatch: LegacyBackfillBatch,
        pages: inout LegacyPagePipeline?
    ) async throws -> Bool {
        while true {
            let remaining = options.limit.map { $0 - self.scannedNow } ?? Int.max
            guard remaining > 0 else { return true }
            guard let size = try await nextBatchSize() else { return false }
            let pageSize = min(size, remaining)
            // Pages read ahead keep the size they were started with.
            pages?.resize(pageSize)
            let legacyPage = try await pages?.next()
            if kind == .legacy, legacyPage == nil { return true }
            let (cursor, done) = (self.cursor, self.scannedNow)
            let started = ContinuousClock.now
            let outcome = try await batch(deferredAfter: deferred) { [repair] connection in
                switch kind {
                case .programs:
                    if let repair {
                        try await programBatch.run(listed: repair.programIDs.dropFirst(done).prefix(pageSize), on: connection)
                    } else {
                        try await programBatch.run(after: cursor, pageSize: pageSize, on: connection)
                    }
                case .sessions:
                    try await sessionBatch.run(after: cursor, pageSize: pageSize, on: connection)
                case .legacy:
                    try await legacyBatch.write(legacyPage ?? LegacyBackfillBatch.Page(), on: connection)
                }
            }
            let took = started.duration(to: .now)
            deferred += outcome.deferred
            record(outcome)
            await refreshStatisticsAfterFirstVersions(outcome)
            try await pacer.finished(records: outcome.scanned, took: took)
            if kind != .legacy, outcome.scanned < pageSize { return true }
        }
    }

    /// `--workers N`: every range at once, each by its worker on a connection of its own;
    /// what they do is recorded here as it happens. When one fails the others stop after
    /// the batch in hand and the run fails with the first error. When all are done, the
    /// rows they skipped are gathered for the come-back. False when a stop was asked for.
    private mutating func walk(_ ranges: [BackfillRange]) async throws -> Bool {
        let (events, sink) = AsyncStream.makeStream(of: ProgramRangeWorker.Event.self)
        let abandon = StopRequest()
        let workers = ranges.map { range in
            ProgramRangeWorker(
                range: range, options: options, runID: runID, ledger: ledger, signals: pacer.signals, stop: pacer.stop, abandon: abandon,
                logger: logger)
        }
        deferred += ranges.flatMap(\.deferred)
        logger.info("walking the programs in ranges", metadata: ["run": "\(runID)", "workers": "\(workers.count)"])
        var (failure, stopped): ((any Error)?, Bool) = (nil, false)
        await withTaskGroup(of: Void.self) { [pool] group in
            for worker in workers {
                group.addTask {
                    do {
                        try await pool.withConnection { await worker.run(on: $0, events: sink) }
                    } catch {
                        sink.yield(.failed(worker: worker.range.worker, error))
                    }
                }
            }
            var running = Set(workers.map(\.range.worker))
            for await event in events {
                switch event {
                case .batch(let outcome, let size):
                    (batchSize, deferred) = (size, deferred + outcome.deferred)
                    record(outcome, advancesCursor: false)
                    await refreshStatisticsAfterFirstVersions(outcome)
                case .waiting(let reason):
                    progress(currentProgress(throttled: reason))
                case .finished(let worker, let stoppedEarly, let throttled):
                    stopped = stopped || stoppedEarly
                    workersThrottled = max(workersThrottled, throttled)
                    running.remove(worker)
                case .failed(let worker, let error):
                    logger.error("a worker failed; the others stop after the batch in hand", metadata: [
                        "run": "\(runID)", "worker": "\(worker)", "error": "\(error)",
                    ])
                    failure = failure ?? error
                    abandon.request("worker \(worker) failed")
                    running.remove(worker)
                }
                if running.isEmpty { break }
            }
            sink.finish()
        }
        if let failure { throw failure }
        guard !stopped else { return false }
        if !options.dryRun { deferred = try await BackfillRange.gatherDeferred(runID: runID, on: connection) }
        return true
    }

    /// The rows batches skipped because another transaction held them: tried again in
    /// sweeps with a growing pause, for up to `lockedRowPatience`; those never had are
    /// reported. False when a stop was asked for.
    private mutating func comeBackForDeferred() async throws -> Bool {
        guard !deferred.isEmpty else { return true }
        let deadline = ContinuousClock.now + options.lockedRowPatience
        var pause: Duration = .milliseconds(200)
        logger.notice("coming back for rows another transaction held", metadata: ["run": "\(runID)", "rows": "\(deferred.count)"])
        while !deferred.isEmpty {
            var stillHeld: [UUID] = []
            var sweep = deferred[...]
            while !sweep.isEmpty {
                guard let size = try await nextBatchSize() else { return false }
                let chunk = Array(sweep.prefix(size))
                sweep = sweep.dropFirst(size)
                let remaining = stillHeld + Array(sweep)
                let outcome = try await batch(deferredAfter: remaining) { [kind, runID, options] connection in
                    switch kind {
                    case .programs:
                        try await ProgramBackfillBatch(runID: runID, dryRun: false, userID: options.userID).run(listed: chunk[...], on: connection)
                    case .sessions:
                        try await SessionBackfillBatch(runID: runID, dryRun: false, userID: options.userID).run(listed: chunk, on: connection)
                    case .legacy:
                        try await Self.writeListedLegacy(chunk, runID: runID, userID: options.userID, on: connection)
                    }
                }
                stillHeld += outcome.deferred
                record(outcome, advancesCursor: false)
            }
            deferred = stillHeld
            guard !deferred.isEmpty else { break }
            guard ContinuousClock.now < deadline else {
                try await reportStillHeld()
                break
            }
            try await ledger?.show(
                throttled: "coming back for \(deferred.count) rows another transaction holds", throttledFor: throttledSoFar, on: connection)
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(4))
        }
        return true
    }

    /// A deferred legacy page: listed and prepared here (the pipeline is done by now).
    private static func writeListedLegacy(_ ids: [UUID], runID: UUID, userID: UUID?, on connection: PGConnection) async throws -> BackfillBatchOutcome {
        let batch = LegacyBackfillBatch(runID: runID, dryRun: false, userID: userID)
        var outcome = try await batch.write(try await batch.prepare(try await batch.list(ids, on: connection), on: connection), on: connection)
        outcome.lastKey = nil
        return outcome
    }

    /// Reports the rows another transaction held for the whole run, in one batch.
    private mutating func reportStillHeld() async throws {
        let seconds = Int(options.lockedRowPatience.seconds.rounded())
        let held = deferred
        let outcome = try await batch(deferredAfter: []) { [kind, runID] connection in
            var outcome = BackfillBatchOutcome()
            let detail = "another transaction held this row for the whole run (the run came back for it for \(seconds) s after its "
                + "last batch); nothing was written for it: find the long transaction (pg_stat_activity), then run the backfill again"
            if kind == .sessions {
                let rows = try await connection.query("SELECT id, program_id FROM workout_sessions WHERE id = ANY(\(held)) ORDER BY id")
                for row in rows {
                    let (session, program) = try row.decode((UUID, UUID).self)
                    outcome.reports.append(BackfillReport(
                        programID: program, sessionID: session, loggedSetID: nil, reason: "ROW_LOCKED", path: "workout_sessions", detail: detail))
                }
            } else {
                outcome.reports = held.map {
                    BackfillReport(programID: $0, sessionID: nil, loggedSetID: nil, reason: "ROW_LOCKED", path: "programs", detail: detail)
                }
            }
            outcome.counts.seen = outcome.reports.count
            outcome.counts.reported = outcome.reports.count
            try await BackfillReport.store(outcome.reports, runID: runID, on: connection)
            return outcome
        }
        deferred = []
        record(outcome, advancesCursor: false)
        logger.warning("rows another transaction held for the whole run were reported", metadata: [
            "run": "\(runID)", "rows": "\(outcome.counts.reported)",
        ])
    }

    // MARK: - One batch

    /// The next batch's size once nothing says wait (nil: stop). While it waits, the run
    /// row and the progress line say why.
    private mutating func nextBatchSize() async throws -> Int? {
        let (ledger, connection, throttledSoFar) = (self.ledger, self.connection, self.throttledSoFar)
        var pacer = self.pacer
        let size = try await pacer.nextBatchSize(on: connection) { reason in
            try await ledger?.show(throttled: reason, throttledFor: throttledSoFar, on: connection)
            progress(currentProgress(throttled: reason))
        }
        self.pacer = pacer
        if let size { batchSize = size }
        return size
    }

    /// Runs `body` as one batch (`BatchTransaction`), its counts written to the run row with
    /// the cursor and `deferredAfter` plus what the batch deferred.
    private func batch(
        deferredAfter: [UUID], _ body: (PGConnection) async throws -> BackfillBatchOutcome
    ) async throws -> BackfillBatchOutcome {
        let (ledger, connection, throttled, batchSize) = (self.ledger, self.connection, self.throttledSoFar, self.batchSize)
        return try await BatchTransaction(kind: kind, runID: runID, dryRun: options.dryRun, connection: connection, logger: logger).run(
            showRetry: { try await ledger?.show(throttled: $0, throttledFor: throttled, on: connection) },
            body,
            commit: { outcome, connection in
                try await ledger?.advance(
                    by: outcome.counts, to: outcome.lastKey, deferred: deferredAfter + outcome.deferred, batchSize: batchSize, on: connection)
            })
    }

    private mutating func record(_ outcome: BackfillBatchOutcome, advancesCursor: Bool = true) {
        counts += outcome.counts
        if advancesCursor {
            scannedNow += outcome.scanned
            cursor = outcome.lastKey ?? cursor
        }
        reports += outcome.reports.prefix(max(0, 1_000 - reports.count))
        for report in outcome.reports { reasons[report.reason, default: 0] += 1 }
        progress(currentProgress(throttled: nil))
    }

    private func currentProgress(throttled: String?) -> BackfillProgress {
        BackfillProgress(
            kind: kind, counts: counts, total: total, elapsed: clock.duration(to: .now), throttled: throttled, batchSize: batchSize,
            deferred: deferred.count)
    }

    private mutating func refreshStatisticsAfterFirstVersions(_ outcome: BackfillBatchOutcome) async {
        guard let current = statistics, outcome.counts.migrated > 0 else { return }
        statistics = nil
        await current.refreshIfNearlyEmpty(on: connection, logger: logger)
    }

    // MARK: - The end

    private mutating func succeeded(backup: (folder: String, files: [BackupFile])?) async throws -> BackfillSummary {
        if !options.dryRun { await refreshStatistics() }
        let after = try await BackfillAudit.counts(userID: options.userID, on: connection)
        let audit = BackfillAudit(
            before: before, after: after, invalidLinks: try await BackfillAudit.invalidLinks(userID: options.userID, on: connection))
        if let ledger {
            // A run that succeeded forgets its workers' ranges with its end (scratch: only an
            // unfinished run resumes from them).
            let (ranges, runID, throttled) = (self.ranges, self.runID, self.throttledSoFar)
            counts = try await connection.transaction { connection in
                if ranges != nil { try await BackfillRange.forget(runID: runID, on: connection) }
                return try await ledger.finish(status: .succeeded, countsAfter: after, error: nil, throttledFor: throttled, on: connection)
            }
            guard counts.addsUp(for: kind), try await Backfill.reportsMatch(counts, kind: kind, runID: runID, on: connection) else {
                throw BackfillError.countsDoNotAddUp(runID: runID, counts)
            }
            try await loadStoredReasons()
        }
        return summary(status: .succeeded, audit: audit, backup: backup)
    }

    private mutating func interrupted(backup: (folder: String, files: [BackupFile])?) async throws -> BackfillSummary {
        let why = pacer.stop?.requested ?? "asked to stop"
        let after = try await BackfillAudit.counts(userID: options.userID, on: connection)
        let audit = BackfillAudit(before: before, after: after, invalidLinks: 0)
        if let ledger {
            counts = try await ledger.finish(
                status: .interrupted, countsAfter: after, error: "\(why); run the same command again to resume",
                throttledFor: throttledSoFar, on: connection)
            try await loadStoredReasons()
        }
        logger.notice("backfill interrupted after its last committed batch", metadata: ["run": "\(runID)", "why": "\(why)"])
        return summary(status: .interrupted, audit: audit, backup: backup)
    }

    /// A resumed run's earlier batches reported too: count what is stored.
    private mutating func loadStoredReasons() async throws {
        reasons = try await Dictionary(uniqueKeysWithValues: connection.query("""
            SELECT reason, count(*) FROM backfill_reports WHERE run_id = \(runID) GROUP BY reason
            """).map { try $0.decode((String, Int).self) })
    }

    /// The tables the run rewrote, analyzed now rather than at autovacuum's next round: the
    /// check that usually follows a backfill otherwise plans on statistics from before it.
    private func refreshStatistics() async {
        do {
            let done = try await connection.query("SELECT program_versioning_refresh_statistics(0.1)").map { try $0.decode(String.self, at: 0) }
            if !done.isEmpty { logger.info("statistics refreshed", metadata: ["tables": "\(done.joined(separator: "; "))"]) }
        } catch {
            logger.warning("could not refresh the statistics of the tables the run wrote; the next check may plan slowly until autovacuum does",
                           metadata: ["error": "\(ThrottleSignals.firstLine(of: error))"])
        }
    }

    private func summary(status: BackfillRunState, audit: BackfillAudit, backup: (folder: String, files: [BackupFile])?) -> BackfillSummary {
        BackfillSummary(
            runID: runID, kind: kind, dryRun: options.dryRun, resumed: ledger?.resumed ?? false, counts: counts, status: status,
            startedAt: startedAt, finishedAt: Date(), audit: audit, reports: reports, reportsByReason: reasons, backup: backup,
            throttledSeconds: throttledSoFar.seconds)
    }
}

extension BackfillKind {
    /// The tables a run of this kind writes: autovacuum on one of them pauses the run.
    var writtenTables: [String] {
        switch self {
        case .programs: RoleGrants.versionTables + ["legacy_syncs"]
        case .sessions: ["workout_sessions", "logged_sets"]
        case .legacy: ["programs", "legacy_syncs"]
        }
    }
}
