import Foundation
import PostgresDriver

/// What a backfill run migrates.
public enum BackfillKind: String, Sendable, CaseIterable, PGDecodable, PGEncodable {
    /// Legacy programs become versions.
    case programs
    /// Old sessions and their sets are linked to version rows.
    case sessions
    /// The way back from phase 5: legacy JSON regenerated from the latest versions.
    case legacy
}

/// How a backfill run goes about it.
public struct BackfillOptions: Sendable, Equatable {
    /// Compute and report exactly what would happen; keep nothing.
    public var dryRun: Bool
    /// Records per batch; each batch is one transaction and one step of the resume cursor.
    /// Nil: each batch sized to take about `throttle.targetBatchDuration`.
    public var batchSize: Int?
    /// Only this user's records.
    public var userID: UUID?
    /// Stop after this many records (the run still ends SUCCEEDED; a later run carries on,
    /// skipping cheaply what is already done).
    public var limit: Int?
    /// Run even though `PROGRAM_VERSIONING_WRITES` is off (the app's next saves would then
    /// leave the new versions stale at once).
    public var allowWritesOff: Bool
    /// Copy the legacy tables the run touches into this folder (with a manifest of
    /// checksums) before it changes anything.
    public var backupDirectory: String?
    /// `backfill legacy` only: once every batch is written back, write back what the app
    /// saved meanwhile and turn PROGRAM_VERSIONING_LEGACY_READONLY off in the same
    /// transaction, holding saves back for that last step only. Without it a busy app
    /// saves new phase-5 versions between the run and the flip, and the flip is refused.
    public var turnLegacyReadOnlyOff: FlagFlipRequest?
    /// What makes the run wait between batches, and how long a batch should take.
    public var throttle: ThrottleOptions
    /// The longest any statement of the run waits for a lock (rows are never waited for:
    /// they are skipped and come back; this bounds table locks, e.g. behind a migration).
    /// A batch whose lock wait times out is rolled back and retried with a growing pause.
    public var lockTimeout: Duration
    /// The longest any one statement of the run may take.
    public var statementTimeout: Duration
    /// How long the run keeps coming back for rows another transaction held, after its
    /// last batch; those still held then are reported (`ROW_LOCKED`).
    public var lockedRowPatience: Duration
    /// `backfill programs` only: walk the program ids in this many ranges at once, each on
    /// its own connection (the pool must allow `workers + 1`). An unfinished run resumes
    /// only with the number it started with; `limit` needs one worker.
    public var workers: Int

    public init(
        dryRun: Bool = false, batchSize: Int? = nil, userID: UUID? = nil, limit: Int? = nil, allowWritesOff: Bool = false,
        backupDirectory: String? = nil, turnLegacyReadOnlyOff: FlagFlipRequest? = nil, throttle: ThrottleOptions = ThrottleOptions(),
        lockTimeout: Duration = .milliseconds(500), statementTimeout: Duration = .seconds(300), lockedRowPatience: Duration = .seconds(30),
        workers: Int = 1
    ) {
        self.dryRun = dryRun
        self.batchSize = batchSize
        self.userID = userID
        self.limit = limit
        self.allowWritesOff = allowWritesOff
        self.backupDirectory = backupDirectory
        self.turnLegacyReadOnlyOff = turnLegacyReadOnlyOff
        self.throttle = throttle
        self.lockTimeout = lockTimeout
        self.statementTimeout = statementTimeout
        self.lockedRowPatience = lockedRowPatience
        self.workers = workers
    }
}

extension BackfillOptions {
    /// Why `workers` cannot be had for a run of `kind`, if it cannot (nil: it can).
    public func workersProblem(for kind: BackfillKind, repair: Bool = false) -> String? {
        if workers < 1 { return "--workers must be 1 or more, got \(workers)" }
        guard workers > 1 else { return nil }
        if kind != .programs {
            return "--workers applies to backfill programs only (backfill \(kind.rawValue) walks in one range): drop --workers"
        }
        if repair { return "a repair works through the check's list of programs in one walk: drop --workers" }
        if limit != nil {
            return "--limit counts the records of the whole run, which ranges walked at once cannot stop at exactly: drop --limit or --workers"
        }
        return nil
    }
}

/// Who flips a flag and why, for the audit trail.
public struct FlagFlipRequest: Sendable, Equatable {
    public var actor: String
    public var reason: String?

    public init(actor: String, reason: String?) {
        self.actor = actor
        self.reason = reason
    }
}

/// What a run did, record by record class. For programs `seen = migrated + unchanged +
/// reported`; for sessions `seen = linked + alreadyLinked + reported`; for legacy `seen =
/// written + unchanged + reported`. Sets are counted apart: a session is linked even when
/// one of its sets is reported.
public struct BackfillCounts: Sendable, Equatable {
    public var seen = 0
    public var migrated = 0
    /// `backfill legacy`: programs whose legacy JSON was regenerated.
    public var written = 0
    public var unchanged = 0
    public var linked = 0
    public var alreadyLinked = 0
    public var reported = 0
    public var setsLinked = 0
    public var setsReported = 0

    public init() {}

    /// True when every record seen was classified exactly once.
    public func addsUp(for kind: BackfillKind) -> Bool {
        switch kind {
        case .programs: seen == migrated + unchanged + reported
        case .sessions: seen == linked + alreadyLinked + reported
        case .legacy: seen == written + unchanged + reported
        }
    }

    static func += (lhs: inout BackfillCounts, rhs: BackfillCounts) {
        lhs.seen += rhs.seen
        lhs.migrated += rhs.migrated
        lhs.written += rhs.written
        lhs.unchanged += rhs.unchanged
        lhs.linked += rhs.linked
        lhs.alreadyLinked += rhs.alreadyLinked
        lhs.reported += rhs.reported
        lhs.setsLinked += rhs.setsLinked
        lhs.setsReported += rhs.setsReported
    }
}

/// A record a run could not migrate, and why. Stored in `backfill_reports` (not in a dry run).
public struct BackfillReport: Sendable, Equatable {
    public var programID: UUID?
    public var sessionID: UUID?
    public var loggedSetID: UUID?
    /// A stable code: a validation rule (`WORKOUT_ID_REPEATED`, ...), `UNREADABLE_JSON`,
    /// `PROGRAM_HAS_NO_VERSION`, `ORPHAN_SESSION_WORKOUT`, `SET_EXERCISE_NOT_IN_WORKOUT`;
    /// for `backfill legacy` `VERSION_UNREADABLE`, `VERSION_ROWS_CHANGED`; for any kind
    /// `ROW_LOCKED` (another transaction held the row for the whole run).
    public var reason: String
    /// Where: a JSON path for programs, the legacy column for sessions and sets.
    public var path: String?
    /// The sentence an operator reads.
    public var detail: String
}

extension BackfillReport {
    /// Stores reports in `backfill_reports`.
    static func store(_ reports: [BackfillReport], runID: UUID, on connection: PGConnection) async throws {
        guard !reports.isEmpty else { return }
        try await connection.query("""
            INSERT INTO backfill_reports (run_id, program_id, session_id, logged_set_id, reason, path, detail)
            SELECT \(runID), r.program_id, r.session_id, r.logged_set_id, r.reason, r.path, r.detail
              FROM unnest(\(reports.map { $0.programID })::uuid[], \(reports.map { $0.sessionID })::uuid[],
                          \(reports.map { $0.loggedSetID })::uuid[], \(reports.map(\.reason))::text[],
                          \(reports.map(\.path))::text[], \(reports.map(\.detail))::text[])
                   AS r(program_id, session_id, logged_set_id, reason, path, detail)
            """)
    }
}

/// Where a run is, after each batch and while it waits.
public struct BackfillProgress: Sendable {
    public var kind: BackfillKind
    public var counts: BackfillCounts
    /// Records to look at in all (counted when the run started), if known.
    public var total: Int?
    public var elapsed: Duration
    /// Why the run waits now ("paused by ...", "replica lag 2.3 s ..."), nil while it works.
    public var throttled: String?
    /// The size of the batch the run works on now.
    public var batchSize: Int
    /// Rows another transaction held, to come back for.
    public var deferred: Int
}
