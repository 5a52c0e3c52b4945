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

@Suite("backfill programs: every legacy program migrated or reported, idempotent, resumable")
struct ProgramBackfillTests {
    @Test func onMessyDataCountsAddUpAndEveryProgramIsMigratedOrReportedWithItsReason() async throws {
        try await TestDatabase.withFresh { db in
            let seeded = try await LegacySeeder(pool: db.pool).seed(.init(programs: 600, messyPercent: 60, seed: 21))
            try await BackfillFixtures.turnWritesOn(db)
            let summary = try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 70))
            let counts = summary.counts
            #expect(counts.seen == 600 && counts.seen == counts.migrated + counts.unchanged + counts.reported)
            #expect(summary.status == .succeeded && !summary.dryRun && counts.unchanged == 0)
            // Exactly the kinds validation refuses are reported; the others migrate.
            let refused = (seeded.messByKind[.repeatedIds] ?? 0) + (seeded.messByKind[.scheduleIndexPastEnd] ?? 0)
            #expect(counts.reported == refused && counts.migrated == 600 - refused)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions WHERE created_by = 'backfill'") == counts.migrated)
            #expect(summary.audit.isClean && summary.audit.after.versions == counts.migrated)

            // Each report is readable: a rule, the JSON path, a sentence.
            let reports = try await db.pool.query("""
                SELECT r.reason, r.path, r.detail, p.program_json::text FROM backfill_reports r JOIN programs p ON p.id = r.program_id
                 WHERE r.run_id = \(summary.runID)
                """).map { try $0.decode((String, String, String, String).self) }
            #expect(Set(reports.map(\.0)) == ["WORKOUT_ID_REPEATED", "EXERCISE_ID_REPEATED", "WORKOUT_INDEX_OUT_OF_RANGE"])
            for (reason, path, detail, _) in reports {
                switch reason {
                case "WORKOUT_ID_REPEATED": #expect(path == "workouts[1].id" && detail.contains("already used by workouts[0]"))
                case "EXERCISE_ID_REPEATED": #expect(path == "workouts[0].exercises[1].id")
                default: #expect(path.hasPrefix("schedule[") && path.hasSuffix("].workoutIndex") && detail.contains("but the program has"))
                }
                #expect(detail.contains("legacy-only until its JSON is fixed"))
            }
            #expect(summary.reportsByReason.values.reduce(0, +) == reports.count)

            // Every migrated version holds its legacy program exactly (ids generated for id-less ones,
            // numbers given as strings, unknown keys), read back through the repository.
            let repository = Fixtures.repository(db, Fixtures.bothOn)
            let migrated = try await db.pool.query("""
                SELECT p.id, p.program_json FROM programs p JOIN program_versions v ON v.program_id = p.id
                """).map { try $0.decode((UUID, PGJSONB).self) }
            #expect(migrated.count == counts.migrated)
            for (id, json) in migrated {
                let legacy = try Program(legacyJSON: json.bytes)
                #expect(try await repository.program(id, version: 1) == legacy)
                let read = try await repository.program(id)
                #expect(read.source == .versions && read.program == legacy)
            }
            #expect(try await BackfillFixtures.programsWithStaleOrMissingVersion(db).isEmpty)
        }
    }

    @Test func reRunningChangesNothingAndEditingTenRowsBySQLMigratesExactlyThoseTen() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 400, messyPercent: 30, seed: 22))
            try await BackfillFixtures.turnWritesOn(db)
            let backfill = Backfill(pool: db.pool)
            let first = try await backfill.run(.programs, options: .init(batchSize: 64))
            let data = try await BackfillFixtures.digest(db, tables: BackfillFixtures.dataTables)

            let second = try await backfill.run(.programs, options: .init(batchSize: 64))
            #expect(second.counts.migrated == 0 && second.counts.unchanged == first.counts.migrated)
            #expect(second.counts.reported == first.counts.reported && second.counts.seen == 400)
            #expect(try await BackfillFixtures.digest(db, tables: BackfillFixtures.dataTables) == data)

            // Ten migrated programs edited behind the library's back; one rewritten with identical JSON.
            let edited = try await db.pool.query("""
                SELECT program_id FROM program_versions ORDER BY program_id LIMIT 11
                """).map { try $0.decode(UUID.self, at: 0) }
            let changed = Array(edited.prefix(10))
            try await db.pool.query("""
                UPDATE programs SET program_json = jsonb_set(program_json, '{name}', to_jsonb('Edited by SQL ' || id::text))
                 WHERE id = ANY(\(changed))
                """)
            try await db.pool.query("UPDATE programs SET program_json = program_json WHERE id = \(edited[10])")
            let third = try await backfill.run(.programs, options: .init(batchSize: 64))
            #expect(third.counts.migrated == 10 && third.counts.unchanged == first.counts.migrated - 10)
            let secondVersions = try await db.pool.query("""
                SELECT program_id, name FROM program_versions WHERE version = 2 ORDER BY program_id
                """).map { try $0.decode((UUID, String).self) }
            // The row rewritten with the same content keeps its single version: no duplicate.
            #expect(Set(secondVersions.map(\.0)) == Set(changed) && secondVersions.count == 10)
            #expect(secondVersions.allSatisfy { $0.1 == "Edited by SQL \($0.0.uuidString.lowercased())" })
            #expect(try await BackfillFixtures.programsWithStaleOrMissingVersion(db).isEmpty)
        }
    }

    @Test func aDryRunWritesNothingAndPredictsTheRealRun() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 300, messyPercent: 40, seed: 23))
            let all = BackfillFixtures.dataTables + BackfillFixtures.runTables
            let before = try await BackfillFixtures.digest(db, tables: all)
            // A dry run needs no flag: it changes nothing.
            let dry = try await Backfill(pool: db.pool).run(.programs, options: .init(dryRun: true, batchSize: 50))
            let drySessions = try await Backfill(pool: db.pool).run(.sessions, options: .init(dryRun: true, batchSize: 50))
            #expect(try await BackfillFixtures.digest(db, tables: all) == before)
            #expect(dry.dryRun && dry.counts.seen == 300 && dry.counts.migrated > 0 && dry.counts.reported > 0)
            #expect(drySessions.counts.seen == 600 && drySessions.counts.reported == 600)  // no versions yet

            try await BackfillFixtures.turnWritesOn(db)
            let real = try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 50))
            #expect(real.counts == dry.counts && real.reportsByReason == dry.reportsByReason)
        }
    }

    @Test func aBackfilledVersionHasTheSameRowsAsTheVersionASaveWrites() async throws {
        try await TestDatabase.withFresh { db in
            let json = try #require(String(data: Data(Fixtures.program().legacyJSONText.utf8), encoding: .utf8))
            let (backfilled, saved) = (UUID(), UUID())
            for id in [backfilled, saved] {
                try await db.pool.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(UUID()), \(PGJSONB(json)))")
            }
            try await BackfillFixtures.turnWritesOn(db)
            // `saved` gets its first version from a dual-write save of the unchanged program.
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let current = try await repository.program(saved)
            let result = try await repository.save(current.program, to: saved, expectedRevision: current.revision)
            #expect(result.createdVersion && !result.wroteLegacy)
            let summary = try await Backfill(pool: db.pool).run(.programs, options: .init())
            #expect(summary.counts.migrated == 1 && summary.counts.unchanged == 1)

            func rows(_ id: UUID) async throws -> [String] {
                // Every column except row ids, times, the author and the xid-based revision.
                try await db.pool.query("""
                    SELECT 'v ' || version || name || extra::text || source_checksum || content_checksum || (legacy_xmin IS NOT NULL)
                      FROM program_versions WHERE program_id = \(id)
                    UNION ALL
                    SELECT 'w ' || workout_id || name || position || extra::text FROM program_version_workouts WHERE program_id = \(id)
                    UNION ALL
                    SELECT 'e ' || w.workout_id || e.exercise_id || e.name || e.sets || e.reps || e.rest_seconds
                           || coalesce(e.weight_kg::text, 'null') || e.position || e.extra::text
                      FROM program_version_exercises e JOIN program_version_workouts w ON w.id = e.workout_version_id
                     WHERE e.program_id = \(id)
                    UNION ALL
                    SELECT 's ' || position || day_index || workout_id || extra::text FROM program_version_schedule WHERE program_id = \(id)
                    ORDER BY 1
                    """).map { try $0.decode(String.self, at: 0) }
            }
            let backfilledRows = try await rows(backfilled)
            #expect(backfilledRows.count > 10)
            #expect(backfilledRows == (try await rows(saved)))
        }
    }

    @Test func withWritesOffARealRunIsRefusedUnlessAllowed() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 20, seed: 24))
            await #expect {
                try await Backfill(pool: db.pool).run(.programs, options: .init())
            } throws: { error in
                guard case BackfillError.writesOff = error else { return false }
                return "\(error)".contains("flags set PROGRAM_VERSIONING_WRITES on")
            }
            #expect(try await Fixtures.count(db, "backfill_runs") == 0)
            #expect(try await Fixtures.count(db, "program_versions") == 0)
            let allowed = try await Backfill(pool: db.pool).run(.programs, options: .init(allowWritesOff: true))
            #expect(allowed.counts.migrated == 20)
            let flags = try await db.pool.query("SELECT flags::text FROM backfill_runs").single().decode(String.self, at: 0)
            #expect(flags.contains("\"PROGRAM_VERSIONING_WRITES\": {\"enabled\": false"))
        }
    }

    @Test func userAndLimitNarrowTheRunAndALaterRunCarriesOn() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 120, seed: 25))
            try await BackfillFixtures.turnWritesOn(db)
            let user = try await db.pool.query("SELECT user_id FROM programs ORDER BY id LIMIT 1 OFFSET 7").single().decode(UUID.self, at: 0)
            let one = try await Backfill(pool: db.pool).run(.programs, options: .init(userID: user))
            #expect(one.counts.seen == 1 && one.counts.migrated == 1 && one.audit.before.programs == 1)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions v JOIN programs p ON p.id = v.program_id WHERE p.user_id <> \(user)") == 0)
            let limited = try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 7, limit: 30))
            #expect(limited.counts.seen == 30 && limited.counts.migrated == 29 && limited.counts.unchanged == 1)
            let rest = try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 7))
            #expect(rest.counts.seen == 120 && rest.counts.migrated == 90 && rest.counts.unchanged == 30)
        }
    }

    @Test func twoBackfillsNeverRunAtOnce() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 10, seed: 26))
            try await BackfillFixtures.turnWritesOn(db)
            try await db.pool.withConnection { holder in
                try await holder.query("SELECT pg_advisory_lock(\(0x7076_6261_636b_6669))")
                await #expect {
                    try await Backfill(pool: db.pool).run(.sessions, options: .init())
                } throws: { error in
                    guard case BackfillError.anotherRunActive(let who) = error else { return false }
                    return who.hasPrefix("pid \(holder.backendPID)")
                }
                let cli = try await CommandLineTool.run(["backfill", "programs", "--database-url", db.url])
                #expect(cli.status == 2 && cli.stderr.hasPrefix("program-versioning: another backfill is running (pid \(holder.backendPID)"))
                #expect(cli.stderr.split(separator: "\n").count == 1)
                try await holder.query("SELECT pg_advisory_unlock(\(0x7076_6261_636b_6669))")
            }
            #expect(try await Fixtures.count(db, "program_versions") == 0)
            #expect(try await Backfill(pool: db.pool).run(.programs, options: .init()).counts.migrated == 10)
        }
    }

    @Test func aBackupHoldsTheTouchedLegacyTablesWithChecksumsAndRestoresToTheSameRows() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 60, messyPercent: 50, seed: 27))
            try await BackfillFixtures.turnWritesOn(db)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pv-backup-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let programs = try await Backfill(pool: db.pool).run(.programs, options: .init(backupDirectory: directory))
            let sessions = try await Backfill(pool: db.pool).run(.sessions, options: .init(backupDirectory: directory))
            for (summary, expected) in [(programs, ["programs": 60]), (sessions, ["workout_sessions": 120])] {
                let backup = try #require(summary.backup)
                let manifest = try #require(try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: backup.folder).appendingPathComponent("manifest.json"))) as? [String: Any])
                #expect(manifest["runId"] as? String == summary.runID.uuidString.lowercased())
                for file in backup.files {
                    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file.path)))
                    #expect(SHA256Checksum.hex(bytes) == file.sha256 && bytes.count == file.bytes)
                    if let rows = expected[file.table] { #expect(file.rows == rows) }
                    // Restored into an empty copy of the table, the file gives back exactly the rows
                    // the table held before the run (the run writes no legacy column).
                    let restored = "restored_" + file.table
                    try await db.pool.withConnection { connection in
                        try await connection.query(PGQuery(unsafeSQL: "CREATE TABLE \(restored) (LIKE \(file.table))"))
                        try await connection.copyFrom(PGQuery(unsafeSQL: "COPY \(restored) FROM STDIN")) { try await $0.write(encodedRows: bytes) }
                    }
                    let legacyColumns = switch file.table {
                    case "workout_sessions": "id, user_id, program_id, workout_id, status, started_at, completed_at"
                    case "logged_sets": "id, session_id, user_id, exercise_id, set_index, reps, weight_kg, logged_at"
                    default: "*"
                    }
                    let difference = try await BackfillFixtures.count(db, PGQuery(unsafeSQL: """
                        SELECT count(*) FROM ((SELECT \(legacyColumns) FROM \(restored) EXCEPT SELECT \(legacyColumns) FROM \(file.table))
                                        UNION ALL (SELECT \(legacyColumns) FROM \(file.table) EXCEPT SELECT \(legacyColumns) FROM \(restored))) d
                        """))
                    #expect(difference == 0, "\(file.table)")
                }
            }
            // A backup that cannot be written stops the run before it changes anything.
            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '\"changed\"')")
            let versions = try await Fixtures.count(db, "program_versions")
            await #expect {
                try await Backfill(pool: db.pool).run(.programs, options: .init(backupDirectory: "/proc/no-such-place"))
            } throws: { error in
                guard case BackfillError.backupFailed = error else { return false }
                return "\(error)".contains("nothing was migrated")
            }
            #expect(try await Fixtures.count(db, "program_versions") == versions)
        }
    }

    @Test func aSaveThatWaitedForTheBackfillsLockSeesTheVersionTheBackfillWrote() async throws {
        try await TestDatabase.withFresh { db in
            let id = UUID()
            try await db.pool.query("""
                INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(UUID()), \(PGJSONB(Fixtures.program().legacyJSONText)))
                """)
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let read = try await repository.program(id)
            var program = read.program
            program.name = "Edited while the backfill held the row"
            let (edited, revision) = (program, read.revision)
            // The backfill's batch: row locked, version 1 written, not yet committed.
            try await db.pool.withConnection { backfill in
                try await backfill.query("BEGIN")
                try await backfill.query("SELECT 1 FROM programs WHERE id = \(id) FOR UPDATE")
                let save = Task { try await repository.save(edited, to: id, expectedRevision: revision) }
                try await Task.sleep(for: .milliseconds(300))  // the save is now waiting for the lock
                try await backfill.query("""
                    INSERT INTO program_versions (program_id, version, name, source_checksum, content_checksum, created_by, legacy_xmin)
                    SELECT id, 1, 'Upper/Lower', 'c', 'c', 'backfill', xmin::text FROM programs WHERE id = \(id)
                    """)
                try await backfill.query("COMMIT")
                let saved = try await save.value
                #expect(saved.createdVersion && saved.stored.version == 2)
            }
            let versions = try await db.pool.query("SELECT version, created_by FROM program_versions WHERE program_id = \(id) ORDER BY version")
                .map { try $0.decode((Int32, String).self) }
            #expect(versions.map(\.0) == [1, 2] && versions.map(\.1) == ["backfill", "save"])
        }
    }
}
