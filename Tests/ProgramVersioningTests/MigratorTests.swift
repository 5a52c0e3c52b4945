import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import TestSupport
import Testing

@Suite("The migrator applies the schema as goose would")
struct MigratorTests {
    static func migrator(_ db: TestDatabase.Fresh, path: String = TestDatabase.migrationsPath) throws -> Migrator {
        Migrator(migrations: try Migration.load(from: path), pool: db.pool)
    }

    /// The schema as pg_dump prints it, without the bookkeeping rows' timestamps.
    static func schemaDump(_ db: TestDatabase.Fresh) async throws -> String {
        let parameters = ConnectionString.parameters(of: db.url) ?? [:]
        let outcome = try await ExternalTool.run(
            "pg_dump", ["--schema-only", "--no-owner", "--no-privileges", "-d", db.url],
            environment: ["PGHOST": parameters["host"]])
        #expect(outcome.status == 0, "pg_dump failed: \(outcome.stderr)")
        // pg_dump 15.14+ brackets its output with a random \\restrict key; it is not schema.
        return outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") }
            .joined(separator: "\n")
    }

    @Test func upDownToZeroUpLeavesAnIdenticalSchema() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let migrator = try Self.migrator(db)
            let applied = try await migrator.up()
            #expect(applied.count == migrator.migrations.count)
            let first = try await Self.schemaDump(db)
            #expect(first.contains("CREATE TABLE public.program_versions"))

            let rolledBack = try await migrator.down(to: 0)
            #expect(rolledBack.map(\.version) == migrator.migrations.map(\.version).reversed())
            let empty = try await Self.schemaDump(db)
            #expect(!empty.contains("CREATE TABLE public.programs"))

            try await migrator.up()
            let second = try await Self.schemaDump(db)
            #expect(first == second)
        }
    }

    @Test func everyMigrationHasAWorkingDownStepByStep() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let migrator = try Self.migrator(db)
            for migration in migrator.migrations {
                try await migrator.up(to: migration.version)
                let before = try await Self.schemaDump(db)
                try await migrator.up(to: migration.version)  // idempotent
                #expect(try await migrator.currentVersion() == migration.version)
                // One step down and up again gives the same schema.
                try await migrator.down()
                try await migrator.up(to: migration.version)
                #expect(try await Self.schemaDump(db) == before, "\(migration.fileName)")
            }
        }
    }

    @Test func gooseDbVersionRowsMatchGoosesFormat() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let migrator = try Self.migrator(db)
            try await migrator.up()
            let columns = try await db.pool.query("""
                SELECT column_name, data_type, is_nullable FROM information_schema.columns
                 WHERE table_name = 'goose_db_version' ORDER BY ordinal_position
                """).map { try $0.decode((String, String, String).self) }
            #expect(columns.map(\.0) == ["id", "version_id", "is_applied", "tstamp"])
            #expect(columns.map(\.1) == ["integer", "bigint", "boolean", "timestamp without time zone"])
            #expect(columns.map(\.2) == ["NO", "NO", "NO", "YES"])
            let rows = try await db.pool.query("SELECT version_id, is_applied FROM goose_db_version ORDER BY id")
                .map { try $0.decode((Int64, Bool).self) }
            #expect(rows.map(\.0) == [0] + migrator.migrations.map(\.version))
            #expect(rows.allSatisfy { $0.1 })

            try await migrator.down()
            let latest = try await db.pool.query("SELECT max(version_id) FROM goose_db_version").single().decode(Int64.self, at: 0)
            #expect(latest == migrator.migrations[migrator.migrations.count - 2].version, "down deletes the row, as goose does")
        }
    }

    @Test func theShippedMigrationsRunFromAnyDirectoryAndMatchTheRepositorysFolder() async throws {
        let shipped = try Migration.shipped()
        let folder = try Migration.load(from: TestDatabase.migrationsPath)
        #expect(shipped.map(\.fileName) == folder.map(\.fileName) && shipped.map(\.checksum) == folder.map(\.checksum))
        try await TestDatabase.withFresh(migrated: false) { db in
            // A working directory with no migrations folder, as an operator's shell would be.
            let elsewhere = FileManager.default.temporaryDirectory
            let outcome = try await CommandLineTool.run(
                ["migrate", "up", "--database-url", db.url], environment: ["PROGRAM_VERSIONING_MIGRATIONS": nil], workingDirectory: elsewhere)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let applied = try await db.pool.query("SELECT count(*) FROM goose_db_version WHERE version_id > 0").single().decode(Int.self, at: 0)
            #expect(applied == shipped.count)
        }
    }

    @Test func aBinaryCopiedWithoutItsMigrationsSaysSoInsteadOfCrashing() async throws {
        // An operator copies only the executable: the shipped migrations are looked for beside
        // it, never through SwiftPM's accessor (which stops the process, or silently reads the
        // build folder of the machine that built it).
        let folder = try TemporaryFolder.make()
        defer { folder.remove() }
        let copy = folder.url.appendingPathComponent("program-versioning")
        try FileManager.default.copyItem(at: CommandLineTool.binary, to: copy)
        let outcome = try await ExternalTool.run(copy.path, ["migrate", "status", "--database-url", TestDatabase.adminURL])
        #expect(outcome.status == 2 && outcome.stderr.contains("pass --migrations PATH"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("could not load resource bundle") && !outcome.stderr.contains("Fatal error"), "\(outcome.stderr)")
    }

    @Test func concurrentMigrateUpFromTwoProcessesAppliesEachMigrationOnce() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            async let first = CommandLineTool.run(["migrate", "up", "--database-url", db.url])
            async let second = CommandLineTool.run(["migrate", "up", "--database-url", db.url])
            let outcomes = try await [first, second]
            for outcome in outcomes { #expect(outcome.status == 0, "\(outcome.stderr)") }
            let applied = outcomes.map { $0.stdout.components(separatedBy: "applied ").count - 1 }
            let fileCount = try Migration.load(from: TestDatabase.migrationsPath).count
            #expect(applied.reduce(0, +) == fileCount, "between them the two processes applied each file once")
            let duplicates = try await db.pool.query(
                "SELECT count(*) FROM (SELECT version_id FROM goose_db_version GROUP BY version_id HAVING count(*) > 1) d"
            ).single().decode(Int.self, at: 0)
            #expect(duplicates == 0)
        }
    }

    @Test func anAppliedMigrationEditedAfterwardsIsRefused() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let folder = try TemporaryFolder.copy(of: TestDatabase.migrationsPath)
            defer { folder.remove() }
            try await Self.migrator(db, path: folder.path).up()
            let edited = folder.url.appendingPathComponent("00002_enrollment_state.sql")
            try (String(contentsOf: edited, encoding: .utf8) + "\n-- a harmless-looking edit\n").write(to: edited, atomically: true, encoding: .utf8)
            do {
                try await Self.migrator(db, path: folder.path).up()
                Issue.record("expected the edit to be refused")
            } catch let error as MigrationError {
                #expect(error.code == .editedAfterApply)
                #expect(error.message.contains("00002_enrollment_state.sql"))
                #expect(error.message.contains("new migration"))
            }
            let status = try await Self.migrator(db, path: folder.path).status()
            #expect(status.first { $0.version == 2 }?.edited == true)
        }
    }

    @Test func aFailingMigrationLeavesNothingOfItself() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let folder = try TemporaryFolder.copy(of: TestDatabase.migrationsPath)
            defer { folder.remove() }
            try "-- +goose Up\nCREATE TABLE half_done (id int);\nSELECT no_such_function();\n-- +goose Down\nDROP TABLE half_done;\n"
                .write(to: folder.url.appendingPathComponent("00999_broken.sql"), atomically: true, encoding: .utf8)
            do {
                try await Self.migrator(db, path: folder.path).up()
                Issue.record("expected the broken migration to fail")
            } catch let error as MigrationError {
                #expect(error.code == .statementFailed)
                #expect(error.message.contains("00999_broken.sql"))
                #expect(error.message.contains("nothing of it was applied"))
            }
            let exists = try await db.pool.query("SELECT to_regclass('half_done') IS NOT NULL").single().decode(Bool.self, at: 0)
            #expect(!exists)
            let version = try await Self.migrator(db, path: folder.path).currentVersion()
            let shipped = try FileManager.default.contentsOfDirectory(atPath: TestDatabase.migrationsPath).compactMap { Int($0.prefix(5)) }.max() ?? 0
            #expect(version == shipped, "every migration before the broken one stays applied")
        }
    }

    @Test func theBaselineAdoptsExistingLegacyTablesAndItsDownRefusesToDropData() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            // A database the app created before ProgramVersioning existed.
            try await db.pool.withConnection { connection in
                try await connection.executeScript(unsafeSQL: """
                    CREATE TABLE programs (id uuid PRIMARY KEY, user_id uuid NOT NULL, program_json jsonb NOT NULL,
                      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
                    CREATE TABLE workout_sessions (id uuid PRIMARY KEY, user_id uuid NOT NULL, program_id uuid NOT NULL REFERENCES programs(id),
                      workout_id text NOT NULL, status text NOT NULL DEFAULT 'IN_PROGRESS', started_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz);
                    CREATE TABLE user_program_states (user_id uuid NOT NULL, program_id uuid NOT NULL REFERENCES programs(id),
                      current_day_index int, enrollment_status text NOT NULL DEFAULT 'ACTIVE', PRIMARY KEY (user_id, program_id));
                    INSERT INTO programs VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002',
                      '{"name": "Old", "workouts": [{"id": "w-a", "name": "Upper A", "exercises": []}], "schedule": []}');
                    INSERT INTO workout_sessions (id, user_id, program_id, workout_id) VALUES
                      ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 'w-a');
                    INSERT INTO user_program_states VALUES ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 3, 'ACTIVE');
                    """)
            }
            let migrator = try Self.migrator(db)
            try await migrator.up()
            let (name, cycle, week) = try await db.pool.query("""
                SELECT s.workout_name_snapshot, u.cycle_status, u.week_status FROM workout_sessions s, user_program_states u
                """).single().decode((String?, String, String).self)
            #expect(name == "Upper A")
            #expect(cycle == "IN_PROGRESS" && week == "IN_PROGRESS")

            let latest = try await migrator.currentVersion()
            await #expect(throws: MigrationError.self) { try await migrator.down(to: 0) }
            let programs = try await db.pool.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0)
            #expect(programs == 1, "the legacy rows survive a refused down")
            #expect(try await migrator.currentVersion() == latest, "a refused rollback rolls nothing back")
        }
    }

    @Test func aRollbackThatWouldDestroyRowsIsRefusedUntilBackedUpAndTheBackupHoldsEveryRow() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 40, seed: 91))
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            _ = try await Backfill(pool: db.pool).run(.sessions, options: .init())
            _ = try await ConsistencyCheck(pool: db.pool).run()
            let migrator = try Self.migrator(db)
            let latest = try await migrator.currentVersion()
            let schema = try await Self.schemaDump(db)
            let tables = BackfillFixtures.dataTables + ["runtime_flag_audit", "backfill_runs", "backfill_reports", "check_runs"]
            let rows = try await BackfillFixtures.digest(db, tables: tables)
            func migrate(_ arguments: [String]) async throws -> CommandLineTool.Outcome {
                try await CommandLineTool.run(["migrate", "down"] + arguments + ["--database-url", db.url])
            }
            // Down to 0 would drop the app's own tables: never, whatever the options.
            let toZero = try await migrate(["--to", "0"])
            #expect(toZero.status == 1 && toZero.stderr.contains("the app's table") && toZero.stderr.contains("nothing was rolled back"))
            // Down to 1 would drop versions, the audit, the runs, the links: refused, listed.
            let toOne = try await migrate(["--to", "1"])
            #expect(toOne.status == 1 && toOne.stderr.split(separator: "\n").count == 1, "\(toOne.stderr)")
            for named in ["table program_versions", "table runtime_flag_audit", "table check_runs", "column workout_sessions.program_version_id",
                          "nothing was rolled back", "--allow-data-loss --backup DIR"] {
                #expect(toOne.stderr.contains(named), "\(named): \(toOne.stderr)")
            }
            let noBackup = try await migrate(["--to", "1", "--allow-data-loss"])
            #expect(noBackup.status == 64)
            #expect(try await migrator.currentVersion() == latest)
            #expect(try await Self.schemaDump(db) == schema)
            #expect(try await BackfillFixtures.digest(db, tables: tables) == rows)

            // Allowed after a backup: it rolls back, and the backup holds every row it dropped.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pv-down-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let allowed = try await migrate(["--to", "1", "--allow-data-loss", "--backup", directory.path])
            #expect(allowed.status == 0, "\(allowed.stderr)")
            #expect(try await migrator.currentVersion() == 1)
            let folder = directory.appendingPathComponent(try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first))
            let manifest = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("manifest.json"))) as? [String: Any])
            let files = try #require(manifest["files"] as? [[String: Any]])
            // Restored into a freshly migrated database (triggers off, as a restore runs), every
            // table holds exactly the rows it held before the rollback.
            try await TestDatabase.withFresh { restored in
                try await restored.pool.withConnection { connection in
                    try await connection.query("SET session_replication_role = replica")
                    for file in files {
                        let table = try #require(file["table"] as? String), name = try #require(file["file"] as? String)
                        let bytes = try Data(contentsOf: folder.appendingPathComponent(name))
                        try await connection.copyFrom(PGQuery(unsafeSQL: "COPY \(table) FROM STDIN")) { writer in
                            try await writer.write(encodedRows: bytes)
                        }
                    }
                }
                let backedUp = try files.map { try #require($0["table"] as? String) }
                #expect(Set(backedUp).isSuperset(of: ["program_versions", "program_version_exercises", "runtime_flag_audit", "check_runs", "workout_sessions"]))
                let original = rows.filter { backedUp.contains($0.key) }
                #expect(try await BackfillFixtures.digest(restored, tables: backedUp) == original)
            }
        }
    }

    @Test func versionRowsAreImmutableAndNumberedWithoutGaps() async throws {
        try await TestDatabase.withFresh { db in
            let program = UUID()
            try await db.pool.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(program), \(UUID()), '{}')")
            try await db.pool.query("INSERT INTO program_versions (program_id, version, name, source_checksum, content_checksum) VALUES (\(program), 1, 'v1', 'a', 'b')")
            await #expect(throws: PGError.self) {
                try await db.pool.query("INSERT INTO program_versions (program_id, version, name, source_checksum, content_checksum) VALUES (\(program), 3, 'gap', 'a', 'b')")
            }
            do {
                try await db.pool.query("UPDATE program_versions SET name = 'changed'")
                Issue.record("expected the update to be refused")
            } catch let error as PGError {
                #expect(error.message.contains("immutable"))
            }
            await #expect(throws: PGError.self) { try await db.pool.query("DELETE FROM program_versions") }
            await #expect(throws: PGError.self) { try await db.pool.query("TRUNCATE program_versions CASCADE") }
            let name = try await db.pool.query("SELECT name FROM program_versions").single().decode(String.self, at: 0)
            #expect(name == "v1")
        }
    }
}
