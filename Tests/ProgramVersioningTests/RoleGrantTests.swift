import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport
import Testing

@Suite("Three roles, least privilege: what each may and may not do")
struct RoleGrantTests {
    /// What a role attempt came to: done, refused for want of a privilege (42501), or
    /// another failure (which the matrix never expects).
    enum Outcome: Equatable, CustomStringConvertible {
        case allowed, refused
        case failed(String)

        var description: String {
            switch self {
            case .allowed: "allowed"
            case .refused: "refused (42501)"
            case .failed(let why): "failed: \(why)"
            }
        }
    }

    static func outcome(_ body: () async throws -> Void) async -> Outcome {
        do {
            try await body()
            return .allowed
        } catch {
            let cause: PGError? = switch error {
            case let error as PGError: error
            case RepositoryError.database(let error): error
            case BackfillError.database(_, let error): error
            case CheckError.database(_, let error): error
            default: nil
            }
            if cause?.sqlState == "42501" { return .refused }
            return .failed("\(error)")
        }
    }

    @Test func thePrivilegeMatrixHoldsForRealLoginRoles() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 20, seed: 111))
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            let programID = try await db.pool.query("SELECT id FROM programs ORDER BY id LIMIT 1").single().decode(UUID.self, at: 0)
            let suffix = UUID().uuidString.prefix(8).lowercased()
            let roles = (app: "pv_app_\(suffix)", operator: "pv_operator_\(suffix)", nightly: "pv_nightly_\(suffix)")
            for role in [roles.app, roles.operator, roles.nightly] {
                try await db.pool.query(PGQuery(unsafeSQL: "CREATE ROLE \(role) LOGIN"))
                try await db.pool.query(PGQuery(unsafeSQL: "GRANT CONNECT ON DATABASE \(db.name) TO \(role)"))
            }
            defer {
                Task {
                    try? await TestDatabase.admin { connection in
                        for role in [roles.app, roles.operator, roles.nightly] {
                            _ = try? await connection.query(PGQuery(unsafeSQL: "DROP ROLE IF EXISTS \(role)"))
                        }
                    }
                }
            }
            let applied = try await CommandLineTool.run([
                "roles", "apply", "--app", roles.app, "--operator", roles.operator, "--nightly", roles.nightly, "--database-url", db.url,
            ])
            #expect(applied.status == 0, "\(applied.stderr)")

            typealias Operation = (name: String, run: (PGPool) async throws -> Void)
            let operations: [Operation] = [
                ("read a program", { pool in
                    _ = try await ProgramRepository(pool: pool, flags: FixedFlagSource(Fixtures.writesOn), logger: Logger(label: "t")).program(programID)
                }),
                ("save a program", { pool in
                    let repository = ProgramRepository(pool: pool, flags: FixedFlagSource(Fixtures.writesOn), logger: Logger(label: "t"))
                    let stored = try await repository.program(programID)
                    var edited = stored.program
                    edited.name = "Edited \(UUID().uuidString.prefix(6))"
                    _ = try await repository.save(edited, to: programID, expectedRevision: stored.revision)
                }),
                ("start a session", { pool in
                    let stored = try await ProgramRepository(pool: pool, flags: FixedFlagSource(Fixtures.writesOn), logger: Logger(label: "t"))
                        .program(programID)
                    _ = try await WorkoutSessions(pool: pool, logger: Logger(label: "t"))
                        .start(userID: stored.userID, programID: programID, workoutID: stored.program.workouts[0].id)
                }),
                ("flip a flag", { pool in
                    try await FlagStore(pool: pool).set(.writes, enabled: true, actor: "matrix", reason: nil, force: false)
                }),
                ("backfill programs", { pool in _ = try await Backfill(pool: pool).run(.programs, options: .init()) }),
                ("backfill programs with 2 workers", { pool in _ = try await Backfill(pool: pool).run(.programs, options: .init(workers: 2)) }),
                ("run the check", { pool in _ = try await ConsistencyCheck(pool: pool).run() }),
                ("update a flag row by hand", { pool in try await pool.query("UPDATE runtime_flags SET percent = 5 WHERE name = 'PROGRAM_VERSIONING_READS'") }),
                ("delete the flag audit", { pool in try await pool.query("DELETE FROM runtime_flag_audit") }),
                ("record a write-back", { pool in
                    try await pool.query("INSERT INTO legacy_syncs (program_id, program_version_id, legacy_xmin) VALUES (\(UUID()), \(UUID()), '1')")
                }),
                ("read save receipts", { pool in try await pool.query("SELECT count(*) FROM save_receipts") }),
                ("save with an idempotency key", { pool in
                    let repository = ProgramRepository(pool: pool, flags: FixedFlagSource(Fixtures.writesOn), logger: Logger(label: "t"))
                    let stored = try await repository.program(programID)
                    var edited = stored.program
                    edited.name = "Keyed \(UUID().uuidString.prefix(6))"
                    _ = try await repository.save(edited, to: programID, expectedRevision: stored.revision, idempotencyKey: UUID())
                }),
                ("pause backfills", { pool in
                    try await BackgroundControl.setPaused(true, kind: .backfill, reason: "matrix", pool: pool)
                    try await BackgroundControl.setPaused(false, kind: .backfill, reason: nil, pool: pool)
                }),
                ("change a version", { pool in try await pool.query("INSERT INTO program_versions (program_id, version, name, source_checksum, content_checksum) VALUES (\(programID), 99, 'x', 'x', 'x')") }),
            ]
            // Expected: app, operator, nightly. A "change a version" that passes the grant
            // still meets the sequence trigger, which refuses version 99 (23505): failed.
            let expected: [String: [Outcome]] = [
                "read a program": [.allowed, .allowed, .allowed],
                "save a program": [.allowed, .allowed, .refused],
                "start a session": [.allowed, .refused, .refused],
                "flip a flag": [.refused, .allowed, .refused],
                "backfill programs": [.refused, .allowed, .refused],
                "backfill programs with 2 workers": [.refused, .allowed, .refused],
                "run the check": [.refused, .allowed, .allowed],
                "update a flag row by hand": [.refused, .allowed, .refused],
                "delete the flag audit": [.refused, .refused, .refused],
                "record a write-back": [.refused, .allowed, .refused],
                "read save receipts": [.allowed, .refused, .refused],
                // The operator writes versions through backfills; receipts are the app's.
                "save with an idempotency key": [.allowed, .refused, .refused],
                "pause backfills": [.refused, .allowed, .refused],
            ]
            for (index, role) in [roles.app, roles.operator, roles.nightly].enumerated() {
                let pool = PGPool(.init(connectionString: TestDatabase.url(for: db.name) + " user=\(role)", maxConnections: 3))
                for operation in operations {
                    let got = await Self.outcome { try await operation.run(pool) }
                    if let want = expected[operation.name]?[index] {
                        #expect(got == want, "\(role) \(operation.name): \(got), expected \(want)")
                    } else if case .allowed = got {
                        Issue.record("\(role) \(operation.name) should not be allowed")
                    }
                }
                await pool.close()
            }
            // An operator granted before migration 27 (no rights on backfill_run_ranges) still
            // runs a single walk: only workers name that table.
            try await db.pool.query(PGQuery(unsafeSQL: "REVOKE ALL ON backfill_run_ranges FROM \(roles.operator)"))
            let earlier = PGPool(.init(connectionString: TestDatabase.url(for: db.name) + " user=\(roles.operator)", maxConnections: 3))
            let single = await Self.outcome { _ = try await Backfill(pool: earlier).run(.programs, options: .init()) }
            let workers = await Self.outcome { _ = try await Backfill(pool: earlier).run(.programs, options: .init(workers: 2)) }
            await earlier.close()
            #expect(single == .allowed && workers == .refused, "single walk \(single), two workers \(workers)")
        }
    }

    @Test func rolesShowPrintsTheGrantsForTheNamesGiven() async throws {
        let shown = try await CommandLineTool.run(["roles", "show", "--app", "svc", "--operator", "ops", "--nightly", "night"])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("GRANT SELECT, INSERT, UPDATE ON programs, workout_sessions, user_program_states TO svc;"))
        #expect(shown.stdout.contains("GRANT UPDATE ON runtime_flags, programs, workout_sessions, logged_sets, background_controls TO ops;"))
        #expect(shown.stdout.contains("GRANT INSERT ON check_runs TO night;"))
        #expect(!shown.stdout.contains("save_receipts TO night"))
    }

    @Test func theOwnerThatMigratesIsAPlainRole() async throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (owner, database) = ("pv_owner_\(suffix)", "pv_owned_\(suffix)")
        try await TestDatabase.admin { connection in
            try await connection.query(PGQuery(unsafeSQL: "CREATE ROLE \(owner) LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"))
            try await connection.query(PGQuery(unsafeSQL: "CREATE DATABASE \(database) OWNER \(owner) TEMPLATE template0"))
        }
        let url = TestDatabase.url(for: database) + " user=\(owner)"
        let up = try await CommandLineTool.run(["migrate", "up", "--database-url", url])
        #expect(up.status == 0, "\(up.stderr)")
        let flip = try await CommandLineTool.run(["flags", "set", "writes", "on", "--database-url", url])
        #expect(flip.status == 0, "\(flip.stderr)")
        let down = try await CommandLineTool.run(["migrate", "down", "--to", "1", "--database-url", url])
        #expect(down.status == 1 && down.stderr.contains("runtime_flag_audit"), "\(down.stderr)")
        try await TestDatabase.admin { connection in
            _ = try await connection.query(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"))
            _ = try await connection.query(PGQuery(unsafeSQL: "DROP ROLE IF EXISTS \(owner)"))
        }
    }
}
