import Foundation
import PostgresDriver
import RuntimeFlags

/// Why a backfill did not run or did not finish. Each says what to do; nothing a failed
/// batch started is kept (every batch is one transaction).
public enum BackfillError: Error, Sendable, CustomStringConvertible {
    /// Another backfill holds the lock.
    case anotherRunActive(holder: String)
    /// WRITES is off, so the app's saves would not write versions and new ones go stale.
    case writesOff
    /// A batch classified a different number of records than it saw: a bug, stopped loudly.
    case countsDoNotAddUp(runID: UUID, BackfillCounts)
    /// The run's row was finished by someone else while this run was writing.
    case runTakenOver(UUID)
    /// `check --repair` while READS is on.
    case readsOn
    /// `--backup` could not write its files; nothing was migrated.
    case backupFailed(String)
    /// The legacy JSON is retired (`legacy retire`): there is nothing to read or write back.
    case legacyRetired
    /// `--flag-off`: the write-back finished, but the flag store refused the flip (the run
    /// is kept; the last step was rolled back).
    case flagOffRefused(runID: UUID, FlagChangeRefused)
    /// The database is a hot standby or read-only: a backfill writes.
    case readOnlyDatabase(standby: Bool)
    /// A batch waited past the lock timeout for a table lock, `attempts` times in a row.
    case lockNotGranted(runID: UUID, attempts: Int, String)
    /// `workers` above 1 where ranges cannot be walked apart; says which option to drop.
    case workersNotPossible(String)
    /// An unfinished run is resumed with a different number of workers than it started with.
    case workersDiffer(runID: UUID, started: Int, asked: Int)
    /// `--throttle-query` cannot be used.
    case throttleQuery(ThrottleQueryError)
    /// The database failed; the run stopped after its last committed batch.
    case database(runID: UUID?, PGError)
    /// Something else failed (kept as it was thrown); the run stopped after its last
    /// committed batch.
    case unexpected(runID: UUID?, any Error)

    public var description: String {
        switch self {
        case .anotherRunActive(let holder):
            "another backfill is running (\(holder)); wait for it to finish, or stop it, then run this again"
        case .writesOff:
            "PROGRAM_VERSIONING_WRITES is off: the app's saves would not write versions, so backfilled versions would go stale at once; "
                + "turn it on first (program-versioning flags set PROGRAM_VERSIONING_WRITES on) or pass --allow-writes-off"
        case .countsDoNotAddUp(let runID, let counts):
            "run \(runID) does not add up (seen \(counts.seen), migrated \(counts.migrated), unchanged \(counts.unchanged), "
                + "linked \(counts.linked), already linked \(counts.alreadyLinked), reported \(counts.reported)); "
                + "the batch was rolled back and the run marked FAILED; please report this bug"
        case .runTakenOver(let runID):
            "run \(runID) was marked finished by someone else while it ran; its last batch was rolled back; run the backfill again"
        case .readsOn:
            "repair refused: PROGRAM_VERSIONING_READS is on, so a repaired version would be served at once; "
                + "turn READS off first (program-versioning flags set PROGRAM_VERSIONING_READS off), then repair"
        case .flagOffRefused(let runID, let refused):
            "run \(runID) wrote legacy back, but PROGRAM_VERSIONING_LEGACY_READONLY stays on: \(refused)"
        case .legacyRetired:
            "the legacy JSON is retired (program-versioning legacy retire): programs.program_json is not there to read or write back; "
                + "run program-versioning legacy restore first if you need it"
        case .backupFailed(let why):
            "the backup failed (\(why)); nothing was migrated: check the folder (space, permissions) or run without --backup"
        case .readOnlyDatabase(let standby):
            (standby ? "the database is a hot standby (in recovery)" : "the database is read-only (default_transaction_read_only)")
                + " and a backfill writes; nothing was run: point --database-url at the primary"
        case .lockNotGranted(let runID, let attempts, let message):
            "run \(runID): a batch waited past the lock timeout \(attempts) times in a row (\(message)); "
                + "each was rolled back and the run stopped after its last committed batch: find what holds the lock "
                + "(SELECT pid, query FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0 ...), "
                + "then run the same command again to resume"
        case .workersNotPossible(let why):
            "nothing was run: \(why)"
        case .workersDiffer(let runID, let started, let asked):
            "run \(runID) started with \(started) worker\(started == 1 ? "" : "s") and did not finish; its cursors are kept per range, "
                + "so it resumes only as it started: run the same command with --workers \(started) (asked for \(asked)); "
                + "nothing was run"
        case .throttleQuery(let error):
            error.description
        case .database(_, let error) where NotMigrated.message(for: error) != nil:
            "nothing was run: " + NotMigrated.message(for: error)!
        case .database(let runID, let error):
            "the database failed\(runID.map { " during run \($0)" } ?? ""): \(error.message.split(whereSeparator: \.isNewline).first ?? "")"
                + "; the run stopped after its last committed batch: run the same command again to resume"
        case .unexpected(let runID, let error):
            "the backfill failed\(runID.map { " during run \($0)" } ?? ""): \(error)"
                + "; the run stopped after its last committed batch: run the same command again to resume"
        }
    }
}

extension BackfillError {
    /// Any error a run met, as the one type callers handle.
    init(_ error: any Error, runID: UUID?) {
        switch error {
        case let error as BackfillError: self = error
        case let refused as FlagChangeRefused: self = .flagOffRefused(runID: runID ?? UUID(), refused)
        case let error as ThrottleQueryError: self = .throttleQuery(error)
        case let error as PGError: self = .database(runID: runID, error)
        default: self = .unexpected(runID: runID, error)
        }
    }
}

/// What a run did.
public struct BackfillSummary: Sendable {
    /// The run's id (a dry run's id is not stored).
    public var runID: UUID
    public var kind: BackfillKind
    public var dryRun: Bool
    /// True when this invocation continued a run whose process had died.
    public var resumed: Bool
    public var counts: BackfillCounts
    /// SUCCEEDED, or INTERRUPTED when it was asked to stop (the next run resumes it).
    public var status: BackfillRunState
    public var startedAt: Date
    public var finishedAt: Date
    public var audit: BackfillAudit
    /// What could not be migrated (in a dry run: what would be reported), up to the first
    /// 1,000; all of them are in `backfill_reports` for a real run.
    public var reports: [BackfillReport]
    /// How many reports of each reason (all of them, not only the first 1,000).
    public var reportsByReason: [String: Int]
    /// With `--backup`: the folder and the files written before the run changed anything.
    public var backup: (folder: String, files: [BackupFile])?
    /// `backfill legacy --flag-off`: PROGRAM_VERSIONING_LEGACY_READONLY was turned off at the
    /// end, together with the write-back of this many programs the app saved during the run.
    public var legacyReadOnlyTurnedOff = false
    public var writtenAtFlagOff = 0
    /// Seconds this invocation waited on throttle signals (a pause, replica lag, ...).
    public var throttledSeconds: Double = 0
}

/// One table `--backup` wrote.
public typealias BackupFile = TableBackup.File
