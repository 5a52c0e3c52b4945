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

@Suite("legacy retire and legacy restore: the end of phase 5, and its undo")
struct LegacyRetirementTests {
    typealias F = PhaseFiveFixtures

    @Test func retireRefusesUntilEveryRuleHoldsThenMovesTheJSONAsideAndRestoreBringsItBack() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 40, seed: 81))
            let backups = FileManager.default.temporaryDirectory.appendingPathComponent("pv-legacy-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: backups) }
            func retire(_ extra: [String] = []) async throws -> CommandLineTool.Outcome {
                try await F.cli(db, ["legacy", "retire", "--reason", "release 7 shipped"] + extra)
            }
            func refused(_ outcome: CommandLineTool.Outcome, _ rule: String) {
                #expect(outcome.status == 1 && outcome.stderr.contains(rule), "\(rule): \(outcome.stdout) \(outcome.stderr)")
                #expect(outcome.stderr.split(separator: "\n").count == 1)
            }
            // Before phase 5: refused.
            refused(try await retire(["--window", "0"]), "LEGACY_READONLY_OFF")
            try await F.enterPhaseFive(db)
            // The default window (14 days) is not over.
            refused(try await retire(), "ROLLBACK_WINDOW_NOT_OVER")
            // No clean check since the flag went on.
            refused(try await retire(["--window", "0"]), "NO_CLEAN_CHECK")
            try await F.requireCleanCheck(db)
            // No backup yet; then a backup whose file was changed; then one that verifies.
            refused(try await retire(["--window", "0"]), "NO_VERIFIED_BACKUP")
            let made = try await F.cli(db, ["legacy", "backup", "--to", backups.path])
            #expect(made.status == 0 && made.stdout.contains("programs: 40 rows"), "\(made.stderr)")
            let folder = try #require(try FileManager.default.contentsOfDirectory(atPath: backups.path).first)
            let programsFile = backups.appendingPathComponent(folder).appendingPathComponent("programs.copy")
            let original = try Data(contentsOf: programsFile)
            try Data(original.dropLast()).write(to: programsFile)
            let damaged = try await retire(["--window", "0"])
            refused(damaged, "NO_VERIFIED_BACKUP")
            #expect(damaged.stderr.contains("programs.copy changed since the backup was made"))
            try original.write(to: programsFile)

            // Every rule holds: retired.
            let repository = Fixtures.repository(db, F.phaseFive)
            let edited = try await db.pool.query("SELECT id FROM programs ORDER BY id LIMIT 5").map { try $0.decode(UUID.self, at: 0) }
            let retired = try await retire(["--window", "0"])
            #expect(retired.status == 0 && retired.stdout.contains("program_json_retired"), "\(retired.stderr)")
            let columns = try await db.pool.query("""
                SELECT string_agg(attname || ':' || attnotnull, ',' ORDER BY attname) FROM pg_attribute
                 WHERE attrelid = 'programs'::regclass AND attname LIKE 'program_json%' AND NOT attisdropped
                """).single().decode(String.self, at: 0)
            #expect(columns == "program_json_retired:false")
            refused(try await retire(["--window", "0"]), "ALREADY_RETIRED")

            // The library's phase-5 paths go on without the column: reads, saves, creates, sessions, check.
            try await F.edit(edited, times: 2, with: repository)
            let born = try await repository.create(Fixtures.program(name: "Born after retirement"), for: UUID())
            let workout = born.program.workouts[0]
            let sessions = WorkoutSessions(pool: db.pool, logger: Logger(label: "test"))
            let session = try await sessions.start(userID: born.userID, programID: born.id, workoutID: workout.id)
            #expect(session.programVersionID != nil && session.workoutName == workout.name)
            try await sessions.logSet(sessionID: session.id, exerciseID: workout.exercises[0].id, setIndex: 0, reps: 5)
            try await sessions.complete(sessionID: session.id)
            let check = try F.json(try await F.cli(db, ["check", "--format", "json"]))
            #expect(check["differenceCount"] as? Int == 0 && check["legacyRetired"] as? Bool == true, "\(check["differences"] ?? "")")
            // Nothing reads or writes legacy JSON now, and the flag cannot go off.
            let backfill = try await F.cli(db, ["backfill", "legacy"])
            #expect(backfill.status == 2 && backfill.stderr.contains("legacy restore"))
            let off = try await F.cli(db, ["flags", "set", "legacy-readonly", "off"])
            #expect(off.status == 1 && off.stderr.contains("LEGACY_RETIRED"))

            // Restore: the column is back, NOT NULL, and holds every program as its latest version.
            let restored = try await F.cli(db, ["legacy", "restore"])
            #expect(restored.status == 0 && restored.stdout.contains("wrote 6 programs"), "\(restored.stdout) \(restored.stderr)")
            let back = try await db.pool.query("""
                SELECT string_agg(attname || ':' || attnotnull, ',' ORDER BY attname) FROM pg_attribute
                 WHERE attrelid = 'programs'::regclass AND attname LIKE 'program_json%' AND NOT attisdropped
                """).single().decode(String.self, at: 0)
            #expect(back == "program_json:true")
            let latest = try await F.latestVersions(db)
            for (id, version) in latest {
                let legacy = try Program(legacyJSON: Array(try await Fixtures.legacyJSON(db, id).utf8))
                #expect(legacy.canonicalChecksum == version.checksum, "\(id)")
            }
            refused(try await F.cli(db, ["legacy", "restore"]), "NOT_RETIRED")
            // The rollback can go on from here.
            let flagOff = try await F.cli(db, ["flags", "set", "legacy-readonly", "off", "--reason", "rollback after restore"])
            #expect(flagOff.status == 0, "\(flagOff.stderr)")
            let recorded = try await db.pool.query("""
                SELECT count(*) FILTER (WHERE restored_at IS NOT NULL), count(*) FROM legacy_retirements
                """).single().decode((Int, Int).self)
            #expect(recorded == (1, 1))
            try await F.requireCleanCheck(db)
        }
    }
}
