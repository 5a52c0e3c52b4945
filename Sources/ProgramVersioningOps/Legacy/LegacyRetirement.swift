import Foundation
import Logging
import PostgresDriver
import RuntimeFlags

/// A `legacy retire` or `legacy restore` the rules forbid, with the rule and what to do first.
public struct LegacyRetirementRefused: Error, Sendable, CustomStringConvertible {
    public enum Rule: String, Sendable {
        case alreadyRetired = "ALREADY_RETIRED"
        case notRetired = "NOT_RETIRED"
        case legacyReadOnlyOff = "LEGACY_READONLY_OFF"
        case windowNotOver = "ROLLBACK_WINDOW_NOT_OVER"
        case noCleanCheck = "NO_CLEAN_CHECK"
        case noVerifiedBackup = "NO_VERIFIED_BACKUP"
        case programsWithoutVersion = "PROGRAMS_WITHOUT_VERSION"
        case invalidWindow = "INVALID_WINDOW"
    }

    public var rule: Rule
    public var message: String
    public var hint: String

    public var description: String { "refused: \(message) (\(rule.rawValue)); \(hint)" }
}

/// The end of phase 5 (DESIGN.md §1, §5): after the rollback window, `legacy retire` ends the
/// compatibility layer, reversibly; `legacy restore` undoes it.
///
/// Retiring moves the legacy JSON aside, it drops nothing: `programs.program_json` becomes
/// `programs.program_json_retired` (a rename, so no row is rewritten) and nullable, and the
/// library's insert of a program's legacy row stops writing JSON. Anything still reading
/// `program_json` (an old app build, a report) fails loudly instead of reading a frozen
/// copy. The library's phase-5 paths never touched the column, so the app changes nothing.
/// Restoring renames it back, writes the JSON of every program created since from its
/// latest version (with `backfill legacy`, which also brings every other program up to
/// date), and makes the column NOT NULL again without a long lock.
public struct LegacyRetirement: Sendable {
    /// A retirement as recorded in `legacy_retirements`.
    public struct Record: Sendable {
        public var id: UUID
        public var retiredAt: Date
        public var retiredBy: String
        public var windowDays: Int
        public var backupID: UUID
        public var reason: String?
        public var restoredAt: Date?
    }

    /// What `restore` did.
    public struct Restoration: Sendable {
        public var retirement: Record
        /// The `backfill legacy` run that wrote the programs created (and edited) since.
        public var writeBack: BackfillSummary
    }

    /// The rollback window DESIGN.md's runbook gives phase 5 before retiring.
    public static let defaultWindowDays = 14

    private let pool: PGPool
    private let logger: Logger

    public init(pool: PGPool, logger: Logger = Logger(label: "ProgramVersioning.legacy", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.pool = pool
        self.logger = logger
    }

    /// The retirement in force, if any.
    static func inForce(on connection: PGConnection) async throws -> Record? {
        guard let row = try await connection.query("""
            SELECT id, retired_at, retired_by, window_days, backup_id, reason, restored_at
              FROM legacy_retirements WHERE restored_at IS NULL
            """).first
        else { return nil }
        let (id, at, by, window, backup, reason, restoredAt) = try row.decode((UUID, Date, String, Int32, UUID, String?, Date?).self)
        return Record(id: id, retiredAt: at, retiredBy: by, windowDays: Int(window), backupID: backup, reason: reason, restoredAt: restoredAt)
    }

    /// The retirement in force, if any.
    public func current() async throws -> Record? {
        try await pool.withConnection { try await Self.inForce(on: $0) }
    }

    /// Retires the legacy JSON, or refuses (`LegacyRetirementRefused`) unless every rule
    /// holds: PROGRAM_VERSIONING_LEGACY_READONLY on for at least `windowDays`, the latest
    /// full check clean and started after the flag went on, the newest `legacy backup`
    /// still verifying against its manifest and the programs unchanged since it, and every
    /// program holding a version (a program only legacy holds would be lost to the library).
    public func retire(windowDays: Int = defaultWindowDays, actor: String, reason: String?) async throws -> Record {
        guard windowDays >= 0 else {
            throw LegacyRetirementRefused(rule: .invalidWindow, message: "the window must be 0 days or more", hint: "pass --window DAYS")
        }
        return try await pool.withConnection { connection in
            let backup = try await verifyPreconditions(windowDays: windowDays, on: connection)
            let record = try await connection.transaction { connection in
                try await connection.query("SELECT set_config('lock_timeout', '5s', true)")
                // The flag row, locked: a flip that would turn it off waits for this and then
                // sees the retirement (and is refused).
                let on = try await connection.query("""
                    SELECT enabled FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY' FOR UPDATE
                    """).first?.decode(Bool.self, at: 0) ?? false
                guard on else { throw Self.flagOff() }
                let id = UUID()
                let row = try await connection.query("""
                    INSERT INTO legacy_retirements (id, retired_by, window_days, backup_id, reason)
                    VALUES (\(id), \(actor) || ' as ' || session_user, \(windowDays), \(backup.id), \(reason))
                    RETURNING retired_at, retired_by
                    """).single()
                let (at, by) = try row.decode((Date, String).self)
                try await connection.executeScript(unsafeSQL: Self.retireSQL)
                return Record(id: id, retiredAt: at, retiredBy: by, windowDays: windowDays, backupID: backup.id, reason: reason, restoredAt: nil)
            }
            logger.notice("legacy JSON retired", metadata: ["retirement": "\(record.id)", "backup": "\(backup.folder)"])
            return record
        }
    }

    /// The checks `retire` makes before it changes anything; returns the verified backup.
    private func verifyPreconditions(windowDays: Int, on connection: PGConnection) async throws -> LegacyBackup.Record {
        if let current = try await Self.inForce(on: connection) {
            throw LegacyRetirementRefused(
                rule: .alreadyRetired, message: "the legacy JSON was retired at \(current.retiredAt.formatted(.iso8601)) by \(current.retiredBy)",
                hint: "nothing to do; legacy restore undoes it")
        }
        let flag = try await connection.query("""
            SELECT f.enabled, (SELECT max(changed_at) FROM runtime_flag_audit
                                WHERE name = f.name AND new_enabled AND NOT coalesce(old_enabled, false)),
                   now()
              FROM runtime_flags f WHERE f.name = 'PROGRAM_VERSIONING_LEGACY_READONLY'
            """).single()
        let (on, since, now) = try flag.decode((Bool, Date?, Date).self)
        guard on, let since else { throw Self.flagOff() }
        let windowEnds = since.addingTimeInterval(TimeInterval(windowDays) * 86_400)
        guard windowEnds <= now else {
            let days = now.timeIntervalSince(since) / 86_400
            throw LegacyRetirementRefused(
                rule: .windowNotOver,
                message: "PROGRAM_VERSIONING_LEGACY_READONLY has been on for \(String(format: "%.1f", days)) days, the rollback window is \(windowDays)",
                hint: "wait until \(windowEnds.formatted(.iso8601)), or pass a shorter --window if your release cycle allows it")
        }
        let check = try await connection.query("""
            SELECT status, started_at FROM check_runs
             WHERE user_filter IS NULL AND finished_at IS NOT NULL AND status <> 'RUNNING'
             ORDER BY finished_at DESC LIMIT 1
            """).first.map { try $0.decode((CheckRunStatus, Date).self) }
        guard let check, check.0 == .clean, check.1 > since else {
            let what = check.map { "the latest check is \($0.0.rawValue), started \($0.1.formatted(.iso8601))" } ?? "no check has run"
            throw LegacyRetirementRefused(
                rule: .noCleanCheck, message: "\(what); a clean check started after PROGRAM_VERSIONING_LEGACY_READONLY went on is needed",
                hint: "run program-versioning check until it reports no differences")
        }
        let withoutVersion = try await connection.query("""
            SELECT count(*) FROM programs p WHERE NOT EXISTS (SELECT 1 FROM program_versions v WHERE v.program_id = p.id)
            """).single().decode(Int.self, at: 0)
        guard withoutVersion == 0 else {
            throw LegacyRetirementRefused(
                rule: .programsWithoutVersion,
                message: "\(withoutVersion) programs have no version: only their legacy JSON holds them",
                hint: "fix their JSON (backfill_reports says why each was not migrated) and run backfill programs, then retire")
        }
        guard let backup = try await LegacyBackup.latest(on: connection) else {
            throw Self.noBackup("no legacy backup was made")
        }
        do {
            _ = try TableBackup.verify(folder: URL(fileURLWithPath: backup.folder), manifestSHA256: backup.manifestSHA256)
        } catch {
            throw Self.noBackup("the backup of \(backup.createdAt.formatted(.iso8601)) does not verify: \(error.description)")
        }
        guard try await LegacyBackup.programsDigest(on: connection) == backup.programsDigest else {
            throw Self.noBackup("programs changed since the backup of \(backup.createdAt.formatted(.iso8601)) (backfill legacy or a restore ran)")
        }
        return backup
    }

    private static func flagOff() -> LegacyRetirementRefused {
        LegacyRetirementRefused(
            rule: .legacyReadOnlyOff, message: "PROGRAM_VERSIONING_LEGACY_READONLY is off: the legacy JSON is still the source of truth",
            hint: "finish phase 5 first: flags set PROGRAM_VERSIONING_LEGACY_READONLY on, and wait out the rollback window")
    }

    private static func noBackup(_ why: String) -> LegacyRetirementRefused {
        LegacyRetirementRefused(
            rule: .noVerifiedBackup, message: why, hint: "make one on this machine with program-versioning legacy backup --to DIR, then retire")
    }

    /// Undoes `retire`: the column back under its name, JSON for every program that has none
    /// (written from its latest version, as `backfill legacy` writes it), NOT NULL again.
    /// Safe to run again after an interruption: it carries on where it stopped.
    public func restore(actor: String, progress: @escaping @Sendable (BackfillProgress) -> Void = { _ in }) async throws -> Restoration {
        let record: Record = try await pool.withConnection { connection in
            if let current = try await Self.inForce(on: connection) {
                return try await connection.transaction { connection in
                    try await connection.query("SELECT set_config('lock_timeout', '5s', true)")
                    try await connection.executeScript(unsafeSQL: Self.restoreSQL)
                    let row = try await connection.query("""
                        UPDATE legacy_retirements SET restored_at = now(), restored_by = \(actor) || ' as ' || session_user
                         WHERE id = \(current.id) RETURNING restored_at
                        """).single()
                    var restored = current
                    restored.restoredAt = try row.decode(Date.self, at: 0)
                    return restored
                }
            }
            // No retirement in force: carry on only if an earlier restore stopped half-way.
            let row = try await connection.query("""
                SELECT NOT a.attnotnull, r.id, r.retired_at, r.retired_by, r.window_days, r.backup_id, r.reason, r.restored_at
                  FROM pg_attribute a
                  LEFT JOIN LATERAL (SELECT * FROM legacy_retirements ORDER BY restored_at DESC NULLS LAST LIMIT 1) r ON true
                 WHERE a.attrelid = 'programs'::regclass AND a.attname = 'program_json' AND NOT a.attisdropped
                """).first
            guard let row, try row.decode(Bool.self, at: 0), let id = try row.decode(UUID?.self, at: 1) else {
                throw LegacyRetirementRefused(rule: .notRetired, message: "the legacy JSON is not retired", hint: "nothing to restore")
            }
            let (_, _, at, by, window, backup, reason, restoredAt) =
                try row.decode((Bool, UUID?, Date, String, Int32, UUID, String?, Date?).self)
            return Record(id: id, retiredAt: at, retiredBy: by, windowDays: Int(window), backupID: backup, reason: reason, restoredAt: restoredAt)
        }
        logger.notice("legacy JSON column restored; writing back what phase 5 saved", metadata: ["retirement": "\(record.id)"])
        let writeBack = try await Backfill(pool: pool, logger: logger).run(.legacy, options: BackfillOptions(), progress: progress)
        try await pool.withConnection { connection in
            let missing = try await connection.query("SELECT count(*) FROM programs WHERE program_json IS NULL").single().decode(Int.self, at: 0)
            guard missing == 0 else {
                throw TableBackup.Failure(description: """
                    \(missing) programs still have no legacy JSON (backfill legacy run \(writeBack.runID) reported them); \
                    fix what it reports and run legacy restore again
                    """)
            }
            // NOT NULL from a validated CHECK: the validation scans without blocking writes,
            // and SET NOT NULL then trusts it instead of scanning under an exclusive lock.
            try await connection.executeScript(unsafeSQL: """
                SET lock_timeout = '5s';
                ALTER TABLE programs ADD CONSTRAINT programs_program_json_restored CHECK (program_json IS NOT NULL) NOT VALID;
                ALTER TABLE programs VALIDATE CONSTRAINT programs_program_json_restored;
                ALTER TABLE programs ALTER COLUMN program_json SET NOT NULL;
                ALTER TABLE programs DROP CONSTRAINT programs_program_json_restored;
                RESET lock_timeout;
                """)
        }
        return Restoration(retirement: record, writeBack: writeBack)
    }

    /// What `retire` changes, all in its transaction (constants, no data).
    static let retireSQL = """
        ALTER TABLE programs RENAME COLUMN program_json TO program_json_retired;
        ALTER TABLE programs ALTER COLUMN program_json_retired DROP NOT NULL;
        COMMENT ON COLUMN programs.program_json_retired IS
          'The legacy JSON as it was when program-versioning legacy retire ran (see legacy_retirements); legacy restore brings it back.';
        CREATE OR REPLACE FUNCTION program_versioning_insert_program(program_id uuid, user_id uuid, legacy_json jsonb)
          RETURNS TABLE (revision text, legacy_written boolean)
          LANGUAGE sql AS $$
          INSERT INTO programs (id, user_id) VALUES (program_id, user_id) RETURNING xmin::text, false
        $$;
        """

    /// What `restore` changes in its first transaction: `retireSQL` undone but for NOT NULL.
    static let restoreSQL = """
        COMMENT ON COLUMN programs.program_json_retired IS NULL;
        ALTER TABLE programs RENAME COLUMN program_json_retired TO program_json;
        CREATE OR REPLACE FUNCTION program_versioning_insert_program(program_id uuid, user_id uuid, legacy_json jsonb)
          RETURNS TABLE (revision text, legacy_written boolean)
          LANGUAGE sql AS $$
          INSERT INTO programs (id, user_id, program_json) VALUES (program_id, user_id, legacy_json) RETURNING xmin::text, true
        $$;
        """
}
