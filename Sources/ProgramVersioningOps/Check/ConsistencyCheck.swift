import Foundation
import Logging
import PostgresDriver
import ProgramVersioning
import RuntimeFlags
import Synchronization

/// Why a check could not finish.
public enum CheckError: Error, Sendable, CustomStringConvertible {
    case database(runID: UUID?, PGError)
    /// Asked to stop (SIGINT, SIGTERM): stopped after the pages in hand. With `resumable`
    /// its progress is recorded and the next check of the same scope goes on from there.
    case interrupted(runID: UUID, resumable: Bool, why: String)
    /// `--record-url` names a database a run cannot be recorded in.
    case recordDatabase(String)
    /// `--throttle-query` cannot be used.
    case throttleQuery(ThrottleQueryError)
    /// Something else failed (kept as it was thrown).
    case unexpected(runID: UUID?, any Error)

    public var description: String {
        switch self {
        case .database(_, let error) where NotMigrated.message(for: error) != nil:
            "nothing was checked: " + NotMigrated.message(for: error)!
        case .database(let runID, let error):
            "the check failed\(runID.map { " (run \($0))" } ?? ""): \(error.message.split(whereSeparator: \.isNewline).first ?? ""); "
                + "check the database connection and run it again\(runID == nil ? "" : " (it resumes where it stopped)")"
        case .interrupted(let runID, let resumable, let why):
            "the check (run \(runID)) stopped before the end (\(why))"
                + (resumable ? "; run it again to resume where it stopped" : "; nothing was recorded (a read-only database): run it again")
        case .recordDatabase(let why):
            "cannot record the run with --record-url: \(why); nothing was checked"
        case .throttleQuery(let error):
            error.description
        case .unexpected(let runID, let error):
            "the check failed\(runID.map { " (run \($0))" } ?? ""): \(error); run it again\(runID == nil ? "" : " (it resumes where it stopped)")"
        }
    }
}

extension ConsistencyCheck {
    /// The last hour of the app's shadow reads, for the report; nil when none are recorded
    /// (or the table cannot be read: a report line is not worth failing a finished run).
    static func recentShadowReads(_ pool: PGPool) async -> ShadowReadSummary? {
        guard let summary = try? await ShadowReadSummary.load(pool: pool, window: .seconds(3_600)),
              summary.compared + summary.legacyReads + summary.versionedReads > 0 else { return nil }
        return summary
    }
}

/// Where a check reads and where it records its run.
struct CheckSource: Sendable {
    /// "primary", or "standby HOST:PORT" for a hot standby.
    var readFrom: String
    /// Reading a standby: the time of the last transaction it replayed.
    var dataAsOf: Date?
    /// The database read from takes no writes (a standby, or default_transaction_read_only).
    var readOnly: Bool
}

/// The consistency check (DESIGN.md §5): every program's legacy JSON against its latest
/// version rebuilt from the versioned tables, every session's and set's links, version
/// numbering and orphans. It reads page by page with short read-only statements (no long
/// snapshot, no lock an app query would wait for), so it can read a hot standby.
///
/// It records its progress page by page (`CheckProgress`) and, when done, the run with its
/// findings as one row of `check_runs`, in the database it reads or in `recordPool` (the
/// primary, when it reads a standby); on a read-only database without one it records
/// nothing and says so. A check killed or interrupted resumes at its next run; a pause from
/// `check pause` holds it between pages, and pages are sized to the throttle's target.
public struct ConsistencyCheck: Sendable {
    private let pool: PGPool
    private let recordPool: PGPool?
    private let logger: Logger

    /// Reads through `pool`; records the run in `recordPool` when given, else in `pool`.
    public init(pool: PGPool, recordPool: PGPool? = nil, logger: Logger = Logger(label: "ProgramVersioning.check", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.pool = pool
        self.recordPool = recordPool
        self.logger = logger
    }

    public func run(
        _ options: CheckOptions = CheckOptions(), stop: StopRequest? = nil, progress: @escaping @Sendable (CheckRunProgress) -> Void = { _ in }
    ) async throws(CheckError) -> CheckReport {
        var runID: UUID?
        do {
            return try await run(options, stop: stop, progress: progress) { runID = $0 }
        } catch let error as CheckError {
            throw error
        } catch let error as ThrottleQueryError {
            throw .throttleQuery(error)
        } catch let error as PGError {
            throw .database(runID: runID, error)
        } catch {
            throw .unexpected(runID: runID, error)
        }
    }

    private func run(
        _ options: CheckOptions, stop: StopRequest?, progress: @escaping @Sendable (CheckRunProgress) -> Void, announce: (UUID) -> Void
    ) async throws -> CheckReport {
        let source = try await pool.withConnection { try await Self.source(on: $0) }
        let record = try await recordTarget(source: source)
        if !source.readOnly {
            await refreshStatistics()
        }
        let flags = try await FlagStore(pool: pool).snapshot()
        let writes = flags.writes
        let retired = try await pool.withConnection { try await LegacyRetirement.inForce(on: $0) } != nil
        let totals = try await pool.query("""
            SELECT (SELECT count(*) FROM programs WHERE \(options.userID)::uuid IS NULL OR user_id = \(options.userID)),
                   (SELECT count(*) FROM workout_sessions WHERE \(options.userID)::uuid IS NULL OR user_id = \(options.userID))
            """).single().decode((Int, Int).self)
        let flagsJSON = "{\"writes\":\(writes),\"reads\":\(flags.reads),\"percent\":\(flags.readPercent),\"legacyReadOnly\":\(flags.legacyReadOnly),\"retired\":\(retired)}"
        let stored = try await record.asyncMap { pool in
            try await CheckProgress.open(
                userID: options.userID, flags: flagsJSON, readFrom: source.readFrom, dataAsOf: source.dataAsOf,
                total: totals.0 + totals.1, pool: pool)
        }
        let runID = stored?.runID ?? UUID()
        announce(runID)
        if let stored, stored.resumed {
            logger.notice("resuming check run", metadata: ["run": "\(runID)", "programsChecked": "\(stored.programsChecked)"])
        }
        let startedAt = stored?.startedAt ?? Date()
        var report = CheckReport(
            runID: runID, startedAt: startedAt, finishedAt: startedAt, writes: writes, reads: flags.reads,
            readPercent: flags.readPercent, legacyReadOnly: flags.legacyReadOnly, legacyRetired: retired, userID: options.userID,
            programsChecked: 0, sessionsChecked: 0, differences: [], differenceCount: 0, countsByKind: [:], ignoredCount: 0,
            comparison: nil, trend: [])
        (report.readFrom, report.dataAsOf, report.resumed, report.stored) = (source.readFrom, stored?.dataAsOf ?? source.dataAsOf, stored?.resumed ?? false, stored != nil)
        // Programs and sessions are checked at the same time, each on its own connections
        // (three at most: the pool should allow that many); what they find is gathered here.
        let tally = CheckTally(report, options: options)
        tally.restore(stored)
        let clock = ContinuousClock.now
        let counter = CheckCounter(programs: stored?.programsChecked ?? 0, sessions: stored?.sessionsChecked ?? 0)
        let show: @Sendable (String?) async throws -> Void = { reason in
            try await stored.asyncMap { progressRow in try await record.asyncMap { try await progressRow.show(throttled: reason, pool: $0) } }
            progress(counter.progress(totals: totals, elapsed: clock.duration(to: .now), throttled: reason))
        }
        let signals = ThrottleSignals(control: .check, options: options.throttle, writtenTables: [], controlPool: recordPool, logger: logger)
        try await pool.withConnection { try await signals.prepare(on: $0) }
        func pacer() -> BatchPacer { BatchPacer(signals: signals, fixedBatchSize: options.pageSize, options: options.throttle, stop: stop) }
        /// Records a page: in the tally, the counter and (when stored) the progress row.
        @Sendable func recorded(_ walk: String, programs: Bool) -> (CheckPage, [CheckDifference], Bool) async throws -> Void {
            { page, found, last in
                let kept = tally.record(found)
                counter.add(programs: programs ? page.scanned : 0, sessions: programs ? 0 : page.scanned)
                if let stored, let record {
                    try await stored.record(
                        walk: walk, cursor: last ? CheckProgress.done : page.lastKey?.uuidString.lowercased() ?? CheckProgress.done,
                        programs: programs ? page.scanned : 0, sessions: programs ? 0 : page.scanned, legacyBehind: page.legacyBehind,
                        findings: kept, pool: record)
                }
                progress(counter.progress(totals: totals, elapsed: clock.duration(to: .now), throttled: nil))
            }
        }
        func walk(_ pager: some CheckPager, _ name: String, programs: Bool) async throws -> CheckWalk {
            let cursor = stored?.cursors[name]
            guard cursor != CheckProgress.done else { return CheckWalk() }
            return try await pager.forEachPage(
                after: cursor.flatMap(UUID.init(uuidString:)), pacer: pacer(), pool: pool, show: show, recorded(name, programs: programs))
        }
        do {
            // Programs, the heavier part, in two walks over halves of the key space.
            let halves = ProgramComparison.halves(
                userID: options.userID, writesOn: writes, legacyReadOnly: flags.legacyReadOnly, legacyRetired: retired)
            async let firstHalf = walk(halves[0], "programs-0", programs: true)
            async let secondHalf = walk(halves[1], "programs-1", programs: true)
            async let sessionsWalk = walk(SessionLinkCheck(userID: options.userID), "sessions", programs: false)
            let walks = try await [firstHalf, secondHalf, sessionsWalk]
            if walks.contains(where: \.stopped) || stop?.requested != nil {
                let why = stop?.requested ?? "asked to stop"
                if let stored, let record { try await stored.stopped(.interrupted, why: why, pool: record) }
                throw CheckError.interrupted(runID: runID, resumable: stored != nil, why: why)
            }
            if options.userID == nil, stored?.cursors["orphans"] != CheckProgress.done {
                let orphans = try await pool.withConnection { try await self.orphans(on: $0) }
                let kept = tally.record(orphans)
                if let stored, let record {
                    try await stored.record(
                        walk: "orphans", cursor: CheckProgress.done, programs: 0, sessions: 0, legacyBehind: 0, findings: kept, pool: record)
                }
            }
            var keys = Set<String>()
            (report, keys) = tally.result
            (report.programsChecked, report.sessionsChecked) = counter.counts
            report.legacyBehind = (stored?.legacyBehind ?? 0) + walks[0].legacyBehind + walks[1].legacyBehind
            report.finishedAt = Date()
            guard let record, let stored else {
                report.notStoredBecause = "\(source.readFrom) is read-only; pass --record-url with the primary's URL to record the run"
                report.sortFindings()
                report.shadowReads = await Self.recentShadowReads(pool)
                return report
            }
            let (finished, keysSeen) = (report, keys)
            report = try await record.withConnection { connection in
                var report = finished
                let history = try await CheckHistory.load(userID: options.userID, on: connection)
                report.comparison = history.compare(with: keysSeen)
                report.trend = history.trend + [CheckTrendPoint(
                    runID: runID, finishedAt: report.finishedAt, differenceCount: report.differenceCount, ignoredCount: report.ignoredCount)]
                report.sortFindings()
                try await CheckHistory.store(report, status: report.isClean ? .clean : .differences, on: connection)
                return report
            }
            try await stored.finished(pool: record)
            report.shadowReads = await Self.recentShadowReads(record)
            return report
        } catch let error as CheckError {
            throw error
        } catch {
            var failed = tally.result.report
            failed.finishedAt = Date()
            if let stored, let record {
                _ = try? await stored.stopped(.failed, why: "\(error)", pool: record)
                _ = try? await record.withConnection { try await CheckHistory.store(failed, status: .failed, on: $0) }
            }
            throw error
        }
    }

    /// What the database read from is: a primary, or a hot standby and how recent its data is.
    private static func source(on connection: PGConnection) async throws -> CheckSource {
        let (standby, readOnly, replayed, address) = try await connection.query("""
            SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on', pg_last_xact_replay_timestamp(),
                   coalesce(host(inet_server_addr()), 'local socket') || ':' || current_setting('port')
            """).single().decode((Bool, Bool, Date?, String).self)
        return CheckSource(readFrom: standby ? "standby \(address)" : "primary", dataAsOf: standby ? (replayed ?? Date(timeIntervalSince1970: 0)) : nil,
                           readOnly: standby || readOnly)
    }

    /// Where the run is recorded: `recordPool` (which must take writes and hold the same
    /// database), else the database read from unless it is read-only (then nowhere).
    private func recordTarget(source: CheckSource) async throws -> PGPool? {
        guard let recordPool else { return source.readOnly ? nil : pool }
        let (standby, readOnly, name) = try await recordPool.withConnection { connection in
            try await connection.query("""
                SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on', current_database()
                """).single().decode((Bool, Bool, String).self)
        }
        guard !standby, !readOnly else { throw CheckError.recordDatabase("it is read-only too; give the primary's URL") }
        let readName = try await pool.query("SELECT current_database()").single().decode(String.self, at: 0)
        guard readName == name else {
            throw CheckError.recordDatabase("it is database \(name), the check reads database \(readName); give the same database on the primary")
        }
        return recordPool
    }

    /// The tables a backfill rewrote, analyzed first if autovacuum has not got to them yet
    /// (see docs/decisions.md, "The slow first check"). Best effort: a check without the
    /// function's grant still runs.
    private func refreshStatistics() async {
        do {
            let done = try await pool.query("SELECT program_versioning_refresh_statistics(0.1)").map { try $0.decode(String.self, at: 0) }
            if !done.isEmpty { logger.info("statistics refreshed before checking", metadata: ["tables": "\(done.joined(separator: "; "))"]) }
        } catch {
            logger.warning("could not refresh the statistics the check plans with; it may be slow until autovacuum does",
                           metadata: ["error": "\(ThrottleSignals.firstLine(of: error))"])
        }
    }

    /// Versions and sessions whose program row is gone (possible only with constraints
    /// switched off, e.g. a restore with triggers disabled), and logged sets whose session
    /// does not exist. The session part walks sessions program by program, so these are the
    /// ones it cannot reach.
    private func orphans(on connection: PGConnection) async throws -> [CheckDifference] {
        let versions = try await connection.query("""
            SELECT v.program_id, v.id, v.version FROM program_versions v
             WHERE NOT EXISTS (SELECT 1 FROM programs p WHERE p.id = v.program_id)
             ORDER BY v.program_id, v.version
            """).map { row in
            let (programID, versionID, version) = try row.decode((UUID, UUID, Int32).self)
            return CheckDifference(
                programID: programID, kind: .orphanVersion, path: "version \(version)", legacy: nil, versioned: versionID.uuidString.lowercased())
        }
        let sessions = try await connection.query("""
            SELECT s.program_id, s.id FROM workout_sessions s
             WHERE NOT EXISTS (SELECT 1 FROM programs p WHERE p.id = s.program_id)
             ORDER BY s.program_id, s.id
            """).map { row in
            let (programID, sessionID) = try row.decode((UUID, UUID).self)
            return CheckDifference(
                programID: programID, sessionID: sessionID, kind: .brokenSessionLink,
                path: "sessions[\(sessionID.uuidString.lowercased())].program_id", legacy: "points at no program", versioned: nil)
        }
        // Sets stay a soft reference to their session (old clients made session ids on the
        // device): the migration that adopted them promises the check reports the dangling ones.
        let sets = try await connection.query("""
            SELECT l.session_id, l.id FROM logged_sets l
             WHERE NOT EXISTS (SELECT 1 FROM workout_sessions s WHERE s.id = l.session_id)
             ORDER BY l.session_id, l.id
            """).map { row in
            let (sessionID, setID) = try row.decode((UUID, UUID).self)
            return CheckDifference(
                programID: nil, sessionID: sessionID, kind: .brokenSessionLink,
                path: "sets[\(setID.uuidString.lowercased())].session_id", legacy: "points at no session", versioned: nil)
        }
        return versions + sessions + sets
    }
}

/// What the parts of a check found so far, recorded from their tasks.
private final class CheckTally: Sendable {
    private let state: Mutex<(report: CheckReport, keys: Set<String>)>
    private let options: CheckOptions

    init(_ report: CheckReport, options: CheckOptions) {
        state = Mutex((report, []))
        self.options = options
    }

    var result: (report: CheckReport, keys: Set<String>) { state.withLock { ($0.report, $0.keys) } }

    /// Puts back what a resumed run found before.
    func restore(_ progress: CheckProgress?) {
        guard let progress else { return }
        state.withLock { state in
            for difference in progress.findings { Self.add(difference, to: &state, keep: options.keepInMemory) }
        }
    }

    /// Records what a page found; returns it with the ignore file's verdicts, as stored.
    @discardableResult
    func record(_ found: [CheckDifference]) -> [CheckDifference] {
        guard !found.isEmpty else { return [] }
        return state.withLock { state in
            found.map { found in
                var difference = found
                difference.ignoredBecause = options.ignoreList.reason(for: difference)
                Self.add(difference, to: &state, keep: options.keepInMemory)
                return difference
            }
        }
    }

    private static func add(_ difference: CheckDifference, to state: inout (report: CheckReport, keys: Set<String>), keep: Int) {
        if difference.ignoredBecause != nil {
            state.report.ignoredCount += 1
        } else {
            state.report.differenceCount += 1
            state.report.countsByKind[difference.kind, default: 0] += 1
        }
        // Ignored or not, it is still there: only a difference that is gone counts as fixed.
        state.keys.insert(difference.key)
        if state.report.differences.count < keep { state.report.differences.append(difference) }
    }
}

/// Records checked so far, for the progress line and the report.
private final class CheckCounter: Sendable {
    private let state: Mutex<(programs: Int, sessions: Int)>
    private let atStart: (programs: Int, sessions: Int)

    init(programs: Int, sessions: Int) {
        state = Mutex((programs, sessions))
        atStart = (programs, sessions)
    }

    var counts: (programs: Int, sessions: Int) { state.withLock { ($0.programs, $0.sessions) } }

    func add(programs: Int, sessions: Int) {
        state.withLock { $0 = ($0.programs + programs, $0.sessions + sessions) }
    }

    func progress(totals: (Int, Int), elapsed: Duration, throttled: String?) -> CheckRunProgress {
        let (programs, sessions) = counts
        return CheckRunProgress(
            programsChecked: programs, sessionsChecked: sessions, programsTotal: totals.0, sessionsTotal: totals.1,
            programsAtStart: atStart.programs, sessionsAtStart: atStart.sessions, elapsed: elapsed, throttled: throttled)
    }
}
