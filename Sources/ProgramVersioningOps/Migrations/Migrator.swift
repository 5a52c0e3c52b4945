import Foundation
import Logging
import PostgresDriver

/// Applies and rolls back `migrations/` the way goose does, on the same bookkeeping table.
///
/// Applied versions are recorded in `goose_db_version` with goose's own columns, so a team
/// can switch between goose and this tool. Each migration runs in one transaction unless it
/// says `NO TRANSACTION`. Concurrent migrators wait for each other on goose's advisory lock.
/// The checksum of every applied file is kept in `program_versioning_migration_checksums`;
/// a file edited after it was applied is refused instead of silently diverging.
public struct Migrator: Sendable {
    /// The advisory lock key goose's Postgres session locker uses, so goose and this tool
    /// serialize with each other too.
    public static let advisoryLockKey: Int64 = 5_887_940_537_704_921_958

    /// The migrations, sorted by version.
    public let migrations: [Migration]
    private let pool: PGPool
    private let logger: Logger
    private let lockTimeout: Duration

    /// A migrator for `migrations` on `pool`'s database. It waits up to `lockTimeout` for
    /// another migrator to finish.
    public init(
        migrations: [Migration], pool: PGPool, lockTimeout: Duration = .seconds(600),
        logger: Logger = Logger(label: "ProgramVersioning.migrate", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.pool = pool
        self.lockTimeout = lockTimeout
        self.logger = logger
    }

    /// A migration's place in the database.
    public struct Status: Sendable, Equatable {
        /// The version.
        public var version: Int64
        /// The file name, or nil when an applied version has no file.
        public var fileName: String?
        /// When it was applied, or nil when pending.
        public var appliedAt: Date?
        /// True when the file changed after it was applied.
        public var edited: Bool
    }

    /// Applies every pending migration up to `target` (all when nil). Returns those applied.
    @discardableResult
    public func up(to target: Int64? = nil) async throws -> [Migration] {
        try await locked { connection in
            let applied = try await appliedVersions(connection)
            try await verifyChecksums(connection, applied: applied)
            var done: [Migration] = []
            for migration in migrations where applied[migration.version] == nil && migration.version <= (target ?? .max) {
                try await apply(migration, on: connection)
                done.append(migration)
            }
            return done
        }
    }

    /// What `down` may do to rows written since the migrations it rolls back were applied.
    public enum DataLoss: Sendable, Equatable {
        /// Refuse, before anything is rolled back, if a Down would drop any row.
        case refuse
        /// Copy every table a Down would take rows from into `backupDirectory` (COPY files
        /// and a manifest, as `backfill --backup` writes them), then roll back.
        case allowAfterBackup(backupDirectory: String)
    }

    /// The app's own tables (DESIGN.md §2): never dropped by a rollback, whatever it is told.
    static let appTables: Set<String> = ["programs", "workout_sessions", "logged_sets", "user_program_states"]

    /// Rolls back applied migrations newer than `target`, newest first; without a target,
    /// only the newest one (as `goose down` does). Returns those rolled back.
    ///
    /// Before anything changes, it reads what every Down in the range would destroy (see
    /// `DownDataLoss`) and counts the rows at risk: versions, flag audit, run history,
    /// reports, link columns. With rows at risk it refuses (`.dataLoss`, nothing rolled
    /// back) unless `dataLoss` allows it after a backup, which it then writes first. Rows of
    /// the app's own tables are never dropped: that is refused whatever `dataLoss` says.
    @discardableResult
    public func down(to target: Int64? = nil, dataLoss: DataLoss = .refuse) async throws -> [Migration] {
        try await locked { connection in
            let applied = try await appliedVersions(connection)
            try await verifyChecksums(connection, applied: applied)
            var versions = applied.keys.sorted(by: >)
            if let target {
                versions = versions.filter { $0 > target }
            } else {
                versions = Array(versions.prefix(1))
            }
            var range: [Migration] = []
            for version in versions {
                guard let migration = migrations.first(where: { $0.version == version }) else {
                    throw MigrationError(
                        .missingFile,
                        "version \(version) is applied but its file is missing from the migrations folder: restore the file to roll it back")
                }
                range.append(migration)
            }
            try await guardData(of: range, to: target ?? (versions.first.map { $0 - 1 } ?? 0), dataLoss, on: connection)
            var done: [Migration] = []
            for migration in range {
                try await rollBack(migration, on: connection)
                done.append(migration)
            }
            return done
        }
    }

    /// Refuses (or backs up, when allowed) before a rollback that would destroy rows.
    private func guardData(of range: [Migration], to target: Int64, _ dataLoss: DataLoss, on connection: PGConnection) async throws {
        var atRisk: [(migration: Migration, target: DownDataLoss.Target, rows: Int)] = []
        for migration in range {
            for (lost, rows) in try await DownDataLoss.rowsAtRisk(DownDataLoss(statements: migration.down).targets, on: connection) {
                atRisk.append((migration, lost, rows))
            }
        }
        guard !atRisk.isEmpty else { return }
        let appRows = atRisk.filter { if case .table(let table) = $0.target { Self.appTables.contains(table) } else { false } }
        if let first = appRows.first {
            throw MigrationError(
                .dataLoss,
                "refused: rolling back to \(target) would drop the app's table \(first.target.table) (\(first.rows) rows); nothing was rolled back. "
                    + "The app's tables are never dropped: roll back to version \(first.migration.version) at the lowest")
        }
        let described = atRisk.map { "\(Self.describe($0.target)): \($0.rows) rows (\($0.migration.fileName))" }.joined(separator: ", ")
        guard case .allowAfterBackup(let directory) = dataLoss else {
            throw MigrationError(
                .dataLoss,
                "refused: rolling back to \(target) would destroy \(described); nothing was rolled back. "
                    + "Roll back less far, or pass --allow-data-loss --backup DIR to copy those tables first")
        }
        let tables = atRisk.map(\.target.table).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let folder = URL(fileURLWithPath: directory).appendingPathComponent("migrate-down-to-\(target)-\(stamp)")
        do {
            _ = try await TableBackup.write(
                tables: tables, to: folder, manifestFields: ["kind": "migrate down", "to": target, "atRisk": described], on: connection)
        } catch let failure as TableBackup.Failure {
            throw MigrationError(.dataLoss, "refused: the backup before the rollback failed (\(failure.description)); nothing was rolled back")
        }
        logger.notice("backed up the rows the rollback drops", metadata: ["folder": "\(folder.path)", "tables": "\(tables)"])
    }

    private static func describe(_ target: DownDataLoss.Target) -> String {
        switch target {
        case .table(let table): "table \(table)"
        case .column(let table, let column): "column \(table).\(column)"
        case .rows(let table, let condition): "rows of \(table)" + (condition.map { " where \($0)" } ?? "")
        }
    }

    /// Every migration file and every applied version, with its state.
    public func status() async throws -> [Status] {
        try await pool.withConnection { connection in
            guard try await versionTableExists(connection) else {
                return migrations.map { Status(version: $0.version, fileName: $0.fileName, appliedAt: nil, edited: false) }
            }
            let applied = try await appliedVersions(connection)
            let checksums = try await recordedChecksums(connection)
            var statuses = migrations.map { migration in
                Status(
                    version: migration.version, fileName: migration.fileName, appliedAt: applied[migration.version],
                    edited: checksums[migration.version].map { $0 != migration.checksum } ?? false)
            }
            for (version, appliedAt) in applied where !migrations.contains(where: { $0.version == version }) {
                statuses.append(Status(version: version, fileName: nil, appliedAt: appliedAt, edited: false))
            }
            return statuses.sorted { $0.version < $1.version }
        }
    }

    /// The highest applied version (0 when none).
    public func currentVersion() async throws -> Int64 {
        try await pool.withConnection { connection in
            guard try await versionTableExists(connection) else { return 0 }
            return try await appliedVersions(connection).keys.max() ?? 0
        }
    }

    // MARK: Steps

    private func apply(_ migration: Migration, on connection: PGConnection) async throws {
        logger.info("applying migration", metadata: ["file": "\(migration.fileName)"])
        let record = { (connection: PGConnection) in
            try await connection.query(
                "INSERT INTO goose_db_version (version_id, is_applied) VALUES (\(migration.version), true)")
            try await connection.query("""
                INSERT INTO program_versioning_migration_checksums (version_id, file_name, checksum)
                VALUES (\(migration.version), \(migration.fileName), \(migration.checksum))
                ON CONFLICT (version_id) DO UPDATE SET file_name = EXCLUDED.file_name, checksum = EXCLUDED.checksum
                """)
        }
        if migration.runsInTransaction {
            try await connection.transaction { connection in
                try await run(migration.up, of: migration, direction: "up", on: connection, transactional: true)
                try await record(connection)
            }
        } else {
            try await run(migration.up, of: migration, direction: "up", on: connection, transactional: false)
            try await connection.transaction { try await record($0) }
        }
    }

    private func rollBack(_ migration: Migration, on connection: PGConnection) async throws {
        logger.info("rolling back migration", metadata: ["file": "\(migration.fileName)"])
        let unrecord = { (connection: PGConnection) in
            try await connection.query("DELETE FROM goose_db_version WHERE version_id = \(migration.version)")
            try await connection.query(
                "DELETE FROM program_versioning_migration_checksums WHERE version_id = \(migration.version)")
        }
        if migration.runsInTransaction {
            try await connection.transaction { connection in
                try await run(migration.down, of: migration, direction: "down", on: connection, transactional: true)
                try await unrecord(connection)
            }
        } else {
            try await run(migration.down, of: migration, direction: "down", on: connection, transactional: false)
            try await connection.transaction { try await unrecord($0) }
        }
    }

    private func run(
        _ statements: [String], of migration: Migration, direction: String, on connection: PGConnection, transactional: Bool
    ) async throws {
        for (index, statement) in statements.enumerated() {
            do {
                try await connection.executeScript(unsafeSQL: statement)
            } catch {
                if error.isConnectionLoss { throw error }
                let kept = transactional
                    ? "nothing of it was applied"
                    : "it runs without a transaction, so statements before this one were kept"
                var message = "migration \(migration.fileName) (\(direction)) failed at statement \(index + 1): \(error.serverMessage ?? error.message)"
                if let hint = error.hint { message += " (\(hint))" }
                message += "; \(kept). Fix the cause and run migrate again."
                throw MigrationError(.statementFailed, message)
            }
        }
    }

    // MARK: Bookkeeping

    /// Runs `body` holding goose's advisory lock on one connection, creating the bookkeeping
    /// tables first if needed.
    private func locked<T: Sendable>(_ body: (PGConnection) async throws -> T) async throws -> T {
        try await pool.withConnection { connection in
            try await waitForLock(connection)
            do {
                try await ensureBookkeepingTables(connection)
                let value = try await body(connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Migrator.advisoryLockKey))")
                return value
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Migrator.advisoryLockKey))")
                throw error
            }
        }
    }

    /// Takes the advisory lock by polling `pg_try_advisory_lock`, as goose does. A blocking
    /// `pg_advisory_lock` would deadlock with CREATE INDEX CONCURRENTLY in the other
    /// migrator: that statement waits for every open transaction, including the waiting one.
    private func waitForLock(_ connection: PGConnection) async throws {
        let deadline = ContinuousClock.now + lockTimeout
        while true {
            let acquired = try await connection.query("SELECT pg_try_advisory_lock(\(Migrator.advisoryLockKey))")
                .single().decode(Bool.self, at: 0)
            if acquired { return }
            guard ContinuousClock.now < deadline else {
                throw MigrationError(
                    .locked,
                    "another migrator (this tool or goose) has held the migration lock for \(lockTimeout): wait for it to finish, or find it in pg_locks (objid of advisory lock \(Migrator.advisoryLockKey))")
            }
            logger.info("waiting for another migrator to finish")
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private func versionTableExists(_ connection: PGConnection) async throws -> Bool {
        try await connection.query("SELECT to_regclass('goose_db_version') IS NOT NULL").single().decode(Bool.self, at: 0)
    }

    private func ensureBookkeepingTables(_ connection: PGConnection) async throws {
        if try await !versionTableExists(connection) {
            try await connection.transaction { connection in
                // goose's own definition, and its initial version-0 row.
                try await connection.query("""
                    CREATE TABLE goose_db_version (
                      id serial NOT NULL,
                      version_id bigint NOT NULL,
                      is_applied boolean NOT NULL,
                      tstamp timestamp NULL DEFAULT now(),
                      PRIMARY KEY (id))
                    """)
                try await connection.query("INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true)")
            }
        }
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS program_versioning_migration_checksums (
              version_id bigint PRIMARY KEY,
              file_name text NOT NULL,
              checksum text NOT NULL,
              recorded_at timestamptz NOT NULL DEFAULT now())
            """)
    }

    /// Applied versions and when, read as goose does: the newest row of each version decides.
    private func appliedVersions(_ connection: PGConnection) async throws -> [Int64: Date] {
        let rows = try await connection.query("""
            SELECT version_id, is_applied, tstamp FROM (
              SELECT DISTINCT ON (version_id) version_id, is_applied, tstamp
                FROM goose_db_version ORDER BY version_id, id DESC) latest
             WHERE is_applied AND version_id > 0
            """)
        var applied: [Int64: Date] = [:]
        for row in rows {
            let (version, _, tstamp) = try row.decode((Int64, Bool, Date?).self)
            applied[version] = tstamp ?? Date(timeIntervalSince1970: 0)
        }
        return applied
    }

    private func recordedChecksums(_ connection: PGConnection) async throws -> [Int64: String] {
        guard try await connection.query("SELECT to_regclass('program_versioning_migration_checksums') IS NOT NULL")
            .single().decode(Bool.self, at: 0)
        else { return [:] }
        var checksums: [Int64: String] = [:]
        for row in try await connection.query("SELECT version_id, checksum FROM program_versioning_migration_checksums") {
            let (version, checksum) = try row.decode((Int64, String).self)
            checksums[version] = checksum
        }
        return checksums
    }

    /// Refuses to go on when an applied file changed; records checksums of versions goose
    /// applied (they have none yet).
    private func verifyChecksums(_ connection: PGConnection, applied: [Int64: Date]) async throws {
        let recorded = try await recordedChecksums(connection)
        for migration in migrations where applied[migration.version] != nil {
            if let checksum = recorded[migration.version] {
                guard checksum == migration.checksum else {
                    throw MigrationError(
                        .editedAfterApply,
                        "migration \(migration.fileName) was edited after it was applied (checksum \(checksum.prefix(12)) recorded, \(migration.checksum.prefix(12)) now): restore the applied file (git checkout) and put the change in a new migration")
                }
            } else {
                try await connection.query("""
                    INSERT INTO program_versioning_migration_checksums (version_id, file_name, checksum)
                    VALUES (\(migration.version), \(migration.fileName), \(migration.checksum))
                    """)
            }
        }
    }
}
