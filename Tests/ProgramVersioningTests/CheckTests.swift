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

@Suite("check: every difference between legacy and versioned data found, nothing on clean data")
struct CheckTests {
    /// Seeded data whose every program can be migrated (ids missing, numbers as strings,
    /// unknown keys, orphan sessions), backfilled with WRITES on.
    static func migratedDatabase(_ db: TestDatabase.Fresh, programs: Int = 200) async throws {
        try await LegacySeeder(pool: db.pool).seed(.init(
            programs: programs, messyPercent: 60, seed: 51, messKinds: [.missingIds, .numbersAsStrings, .unknownKeys, .orphanSessionWorkout]))
        try await BackfillFixtures.turnWritesOn(db)
        _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
        _ = try await Backfill(pool: db.pool).run(.sessions, options: .init())
    }

    @Test func cleanDataHasNoDifferenceEvenWithStringNumbersUnknownKeysAndRewrittenJSON() async throws {
        try await TestDatabase.withFresh { db in
            try await Self.migratedDatabase(db)
            // Rewritten behind the library's back without changing the program: a number as a
            // string, keys in another order (jsonb keeps its own order), the same weight spelled 80.0.
            try await db.pool.query("""
                UPDATE programs SET program_json = jsonb_set(program_json, '{workouts,0,exercises,0,sets}',
                                                             to_jsonb(program_json#>>'{workouts,0,exercises,0,sets}'))
                 WHERE id IN (SELECT id FROM programs ORDER BY id LIMIT 20)
                """)
            // Programs are walked in two halves of the key space: one on the boundary counts once.
            let boundary = try #require(UUID(uuidString: "80000000-0000-0000-0000-000000000000"))
            _ = try await Fixtures.repository(db, Fixtures.writesOn).create(Fixtures.program(), for: UUID(), id: boundary)
            let report = try await ConsistencyCheck(pool: db.pool).run(.init(pageSize: 37))
            #expect(report.isClean, "\(report.differences.prefix(5))")
            #expect(report.programsChecked == 201 && report.sessionsChecked == 400)
            let status = try await db.pool.query("SELECT status FROM check_runs WHERE id = \(report.runID)").single().decode(String.self, at: 0)
            #expect(status == "CLEAN")
            // A clean check is what the flag store asks for before READS may go on; it also
            // checks itself that each legacy row is still the one its version was written
            // from, and the 20 rewritten rows are not, until a backfill records that their
            // versions still hold them (same content: no new version).
            let early = try await CommandLineTool.run(["flags", "set", "PROGRAM_VERSIONING_READS", "on", "--percent", "10", "--database-url", db.url])
            #expect(early.status == 1 && early.stderr.contains("20 programs whose legacy JSON changed"), "\(early.stderr)")
            let backfill = try await Backfill(pool: db.pool).run(.programs, options: .init())
            #expect(backfill.counts.migrated == 0 && backfill.audit.after.versions == backfill.audit.before.versions)
            let flip = try await CommandLineTool.run(["flags", "set", "PROGRAM_VERSIONING_READS", "on", "--percent", "10", "--database-url", db.url])
            #expect(flip.status == 0, "\(flip.stderr)")
        }
    }

    @Test func corruptionBehindTheLibrarysBackIsFoundExactly() async throws {
        try await TestDatabase.withFresh { db in
            try await Self.migratedDatabase(db)
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            // Two programs of our own: one edited once (versions 1 and 2), one with a single version.
            let twice = try await repository.create(Fixtures.program(name: "Twice"), for: UUID())
            var edited = twice.program
            edited.workouts[1].exercises[0].reps = 3
            _ = try await repository.save(edited, to: twice.id, expectedRevision: twice.revision)
            let once = try await repository.create(Fixtures.program(name: "Once"), for: UUID())
            let seeded = try await db.pool.query("""
                SELECT p.id FROM programs p JOIN workout_sessions s ON s.program_id = p.id AND s.workout_version_id IS NOT NULL
                 WHERE p.id NOT IN (\(twice.id), \(once.id)) GROUP BY p.id ORDER BY p.id LIMIT 5
                """).map { try $0.decode(UUID.self, at: 0) }
            let (tampered, editedLegacy, sessionProgram, setProgram, deleted) = (seeded[0], seeded[1], seeded[2], seeded[3], seeded[4])

            // 1. A version row changed with the immutability trigger switched off.
            let (exerciseRow, workoutID, exerciseID, reps) = try await db.pool.query("""
                SELECT e.id, w.workout_id, e.exercise_id, e.reps FROM program_version_exercises e
                  JOIN program_version_workouts w ON w.program_id = e.program_id AND w.id = e.workout_version_id
                 WHERE e.program_id = \(tampered) ORDER BY w.position, e.position LIMIT 1
                """).single().decode((UUID, String, String, Int32).self)
            try await db.pool.withConnection { connection in
                try await connection.query("ALTER TABLE program_version_exercises DISABLE TRIGGER program_version_exercises_immutable")
                try await connection.query("UPDATE program_version_exercises SET reps = reps % 100 + 1 WHERE id = \(exerciseRow)")
                try await connection.query("ALTER TABLE program_version_exercises ENABLE TRIGGER program_version_exercises_immutable")
            }
            // 2. Legacy JSON changed directly.
            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '\"Renamed by SQL\"') WHERE id = \(editedLegacy)")
            // 3. Versions deleted: the only one of `once`, the first of `twice`.
            try await db.pool.withConnection { connection in
                for table in ["program_version_schedule", "program_version_exercises", "program_version_workouts", "program_versions"] {
                    try await connection.query(PGQuery(unsafeSQL: "ALTER TABLE \(table) DISABLE TRIGGER USER"))
                }
                for (program, version) in [(once.id, 1), (twice.id, 1)] {
                    let versionID = try await connection.query(
                        "SELECT id FROM program_versions WHERE program_id = \(program) AND version = \(version)"
                    ).single().decode(UUID.self, at: 0)
                    try await connection.query("DELETE FROM program_version_schedule WHERE program_version_id = \(versionID)")
                    try await connection.query("DELETE FROM program_version_exercises WHERE program_version_id = \(versionID)")
                    try await connection.query("DELETE FROM program_version_workouts WHERE program_version_id = \(versionID)")
                    try await connection.query("DELETE FROM program_versions WHERE id = \(versionID)")
                }
                for table in ["program_version_schedule", "program_version_exercises", "program_version_workouts", "program_versions"] {
                    try await connection.query(PGQuery(unsafeSQL: "ALTER TABLE \(table) ENABLE TRIGGER USER"))
                }
            }
            // 4. A session pointed at another program's workout (the links' foreign keys,
            // which name the program since schema v2, switched off as a restore runs).
            let (session, foreignWorkout) = try await db.pool.query("""
                SELECT s.id, (SELECT w.id FROM program_version_workouts w WHERE w.program_id = \(tampered) LIMIT 1)
                  FROM workout_sessions s WHERE s.program_id = \(sessionProgram) AND s.workout_version_id IS NOT NULL
                 ORDER BY s.id LIMIT 1
                """).single().decode((UUID, UUID).self)
            try await db.pool.withConnection { connection in
                try await connection.query("SET session_replication_role = replica")
                try await connection.query("UPDATE workout_sessions SET workout_version_id = \(foreignWorkout) WHERE id = \(session)")
                try await connection.query("SET session_replication_role = DEFAULT")
            }
            // 5. A set pointed at an exercise of another program.
            let (setSession, loggedSet) = try await db.pool.query("""
                SELECT s.id, l.id FROM workout_sessions s JOIN logged_sets l ON l.session_id = s.id
                 WHERE s.program_id = \(setProgram) AND l.exercise_version_id IS NOT NULL ORDER BY l.id LIMIT 1
                """).single().decode((UUID, UUID).self)
            try await db.pool.withConnection { connection in
                try await connection.query("SET session_replication_role = replica")
                try await connection.query("""
                    UPDATE logged_sets SET exercise_version_id = (SELECT id FROM program_version_exercises WHERE program_id = \(tampered) LIMIT 1)
                     WHERE id = \(loggedSet)
                    """)
                try await connection.query("SET session_replication_role = DEFAULT")
            }

            // 6. A program row deleted with foreign keys switched off: its version and its
            // sessions are left pointing at nothing.
            let orphanedSessions = try await db.pool.query("SELECT id FROM workout_sessions WHERE program_id = \(deleted)")
                .map { try $0.decode(UUID.self, at: 0) }
            let orphanedVersions = try await db.pool.query("SELECT version FROM program_versions WHERE program_id = \(deleted)")
                .map { try $0.decode(Int32.self, at: 0) }
            try await db.pool.withConnection { connection in
                try await connection.query("SET session_replication_role = replica")
                try await connection.query("DELETE FROM programs WHERE id = \(deleted)")
                try await connection.query("SET session_replication_role = DEFAULT")
            }

            let report = try await ConsistencyCheck(pool: db.pool).run(.init(pageSize: 50))
            let found = Set(report.differences.map { "\($0.programID!) \($0.kind.rawValue) \($0.path ?? "-")" })
            let expected = Set<String>([
                "\(tampered) CONTENT_MISMATCH workouts[\(workoutID)].exercises[\(exerciseID)].reps",
                "\(editedLegacy) STALE_VERSION name",
                "\(once.id) MISSING_VERSION -",
                "\(twice.id) VERSION_SEQUENCE version",
                "\(sessionProgram) BROKEN_SESSION_LINK sessions[\(session.uuidString.lowercased())].workout_version_id",
                "\(setProgram) BROKEN_SESSION_LINK sessions[\(setSession.uuidString.lowercased())].logged_sets[\(loggedSet.uuidString.lowercased())].exercise_version_id",
            ]).union(orphanedVersions.map { "\(deleted) ORPHAN_VERSION version \($0)" })
                .union(orphanedSessions.map { "\(deleted) BROKEN_SESSION_LINK sessions[\($0.uuidString.lowercased())].program_id" })
            #expect(!orphanedSessions.isEmpty && orphanedVersions == [1])
            #expect(found == expected)
            let total = 6 + orphanedVersions.count + orphanedSessions.count
            #expect(report.differenceCount == total && report.countsByKind.count == 6)
            let mismatch = try #require(report.differences.first { $0.kind == .contentMismatch })
            #expect(mismatch.legacy == String(reps) && mismatch.versioned == String(reps % 100 + 1))
            let stored = try await db.pool.query("""
                SELECT jsonb_array_length(findings), status FROM check_runs WHERE id = \(report.runID)
                """).single().decode((Int, String).self)
            #expect(stored.0 == total && stored.1 == "DIFFERENCES")
        }
    }

    /// The same text in another Unicode normalization is other bytes for the app: found on
    /// either side, at its path (Swift strings would call the two equal).
    @Test func aNameRewrittenToItsNFDFormIsFoundOnEitherSide() async throws {
        try await TestDatabase.withFresh { db in
            try await BackfillFixtures.turnWritesOn(db)
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let nfc = "Caf\u{E9} Strength", nfd = "Cafe\u{301} Strength"
            #expect(nfc == nfd && !nfc.utf8.elementsEqual(nfd.utf8), "canonically equal, other bytes")
            let versionSide = try await repository.create(Fixtures.program(name: nfc), for: UUID())
            let legacySide = try await repository.create(Fixtures.program(name: nfc), for: UUID())
            try await PhaseFiveFixtures.requireCleanCheck(db)
            try await db.pool.withConnection { connection in
                try await connection.query("ALTER TABLE program_versions DISABLE TRIGGER USER")
                try await connection.query("UPDATE program_versions SET name = \(nfd) WHERE program_id = \(versionSide.id)")
                try await connection.query("ALTER TABLE program_versions ENABLE TRIGGER USER")
            }
            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', to_jsonb(\(nfd)::text)) WHERE id = \(legacySide.id)")
            let report = try await ConsistencyCheck(pool: db.pool).run()
            let found = Set(report.differences.map { "\($0.programID!) \($0.kind.rawValue) \($0.path ?? "-")" })
            #expect(found == ["\(versionSide.id) CONTENT_MISMATCH name", "\(legacySide.id) STALE_VERSION name"], "\(report.differences)")
            let mismatch = report.differences.first { $0.programID == versionSide.id }
            #expect(mismatch?.legacy.map { Array($0.utf8) } == Array("\"\(nfc)\"".utf8))
            #expect(mismatch?.versioned.map { Array($0.utf8) } == Array("\"\(nfd)\"".utf8))
        }
    }

    /// Reports list what needs a look first: new findings before known ones, then the most
    /// severe kinds; each value is named for what it is.
    @Test func reportsListNewFindingsFirstSortedBySeverityWithTheirSidesNamed() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 60, messyPercent: 40, seed: 91, sessionsPerProgram: 1))
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            _ = try await Backfill(pool: db.pool).run(.sessions, options: .init())
            let first = try await CommandLineTool.run(["check", "--database-url", db.url])
            #expect(first.status == 1 && first.stdout.contains("INVALID_LEGACY") && !first.stdout.contains("NEW "), "\(first.stdout)")
            // Two new problems behind the library's back: a stale version and a changed version row.
            let programs = try await db.pool.query("SELECT DISTINCT program_id FROM program_versions ORDER BY program_id DESC LIMIT 2")
                .map { try $0.decode(UUID.self, at: 0) }
            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '\"Renamed\"') WHERE id = \(programs[0])")
            try await db.pool.withConnection { connection in
                try await connection.query("ALTER TABLE program_versions DISABLE TRIGGER USER")
                try await connection.query("UPDATE program_versions SET name = 'Changed' WHERE program_id = \(programs[1])")
                try await connection.query("ALTER TABLE program_versions ENABLE TRIGGER USER")
            }
            let second = try await CommandLineTool.run(["check", "--database-url", db.url])
            let lines = second.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let findings = lines.filter { $0.hasPrefix("NEW ") || $0.contains(" INVALID_LEGACY ") }
            #expect(findings.count >= 3, "\(second.stdout)")
            #expect(findings.first?.hasPrefix("NEW \(programs[1].uuidString.lowercased()) CONTENT_MISMATCH name: legacy ") == true, "\(findings)")
            #expect(findings.dropFirst().first?.hasPrefix("NEW \(programs[0].uuidString.lowercased()) STALE_VERSION name: legacy \"Renamed\", version ") == true,
                    "\(findings)")
            #expect(findings.dropFirst(2).allSatisfy { !$0.hasPrefix("NEW") && $0.contains("INVALID_LEGACY") && $0.contains(": problem ") })
            #expect(!second.stdout.contains("(absent)"))
            // Known findings keep their order: by program, then path.
            let known = findings.dropFirst(2).map { String($0.split(separator: " ")[0]) }
            #expect(known == known.sorted())
            #expect(second.stdout.contains("2 new (listed first)"))
        }
    }

    @Test func aLoggedSetWhoseSessionDoesNotExistIsReported() async throws {
        try await TestDatabase.withFresh { db in
            try await Self.migratedDatabase(db, programs: 30)
            let (setID, sessionID) = (UUID(), UUID())
            try await db.pool.query("""
                INSERT INTO logged_sets (id, session_id, user_id, exercise_id, set_index, reps)
                VALUES (\(setID), \(sessionID), \(UUID()), 'e-uploaded-offline', 0, 5)
                """)
            let report = try await ConsistencyCheck(pool: db.pool).run()
            #expect(report.differenceCount == 1 && report.countsByKind == [.brokenSessionLink: 1], "\(report.differences)")
            let finding = try #require(report.differences.first)
            #expect(finding.sessionID == sessionID && finding.path == "sets[\(setID.uuidString.lowercased())].session_id")
            #expect(finding.legacy == "points at no session")
        }
    }

    @Test func theCommandLineWritesEachFormatAndExitsByTheResult() async throws {
        try await TestDatabase.withFresh { db in
            try await Self.migratedDatabase(db, programs: 40)
            let clean = try await CommandLineTool.run(["check", "--format", "json", "--database-url", db.url])
            #expect(clean.status == 0, "\(clean.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(clean.stdout.utf8)) as? [String: Any])
            for key in ["runId", "startedAt", "finishedAt", "flags", "programsChecked", "sessionsChecked", "differenceCount", "differences", "countsByKind"] {
                #expect(json[key] != nil, "\(key)")
            }
            let flags = try #require(json["flags"] as? [String: [String: Any]])
            #expect(flags["PROGRAM_VERSIONING_WRITES"]?["enabled"] as? Bool == true)
            #expect(flags["PROGRAM_VERSIONING_READS"]?["percent"] as? Int == 0)

            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '\"x\"') WHERE id = (SELECT min(id::text)::uuid FROM programs)")
            let text = try await CommandLineTool.run(["check", "--database-url", db.url])
            #expect(text.status == 1 && text.stdout.hasPrefix("check: 1 DIFFERENCES") && text.stdout.contains("STALE_VERSION"))
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("pv-check-\(UUID().uuidString).md").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let markdown = try await CommandLineTool.run(["check", "--format", "markdown", "--output", file, "--database-url", db.url])
            #expect(markdown.status == 1 && markdown.stdout.isEmpty)
            let written = try String(contentsOfFile: file, encoding: .utf8)
            #expect(written.hasPrefix("### Consistency check: 1 difference(s)") && written.contains("| STALE_VERSION | 1 |"))
            let unreachable = try await CommandLineTool.run(["check", "--database-url", "postgresql://postgres@127.0.0.1:1/none"])
            #expect(unreachable.status == 2 && unreachable.stderr.hasPrefix("program-versioning: cannot connect"))
        }
    }

    @Test func ignoredDifferencesShowWithTheirReasonAndEachRunSaysWhatIsNewAndWhatWasFixed() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 120, messyPercent: 50, seed: 52))
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            _ = try await Backfill(pool: db.pool).run(.sessions, options: .init())
            let check = ConsistencyCheck(pool: db.pool)
            let first = try await check.run()
            #expect(!first.isClean && first.countsByKind.keys.sorted() == [.invalidLegacy] && first.comparison == nil)

            // The programs the backfill reported are accepted for now, with a reason.
            let ignore = CheckIgnoreList(rules: [.init(kind: .invalidLegacy, programID: nil, path: nil, reason: "TICKET-7: app team fixes these")])
            let second = try await check.run(.init(ignoreList: ignore))
            #expect(second.isClean && second.ignoredCount == first.differenceCount && second.differenceCount == 0)
            #expect(second.differences.allSatisfy { $0.ignoredBecause == "TICKET-7: app team fixes these" })
            #expect(second.comparison?.new == [] && second.comparison?.fixed == [])

            let changed = try await db.pool.query("SELECT program_id FROM program_versions ORDER BY program_id LIMIT 1").single().decode(UUID.self, at: 0)
            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '\"changed\"') WHERE id = \(changed)")
            let third = try await check.run(.init(ignoreList: ignore))
            #expect(third.comparison?.new == ["\(changed.uuidString.lowercased()) STALE_VERSION name"] && third.comparison?.fixed == [])
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            let fourth = try await check.run(.init(ignoreList: ignore))
            #expect(fourth.isClean && fourth.comparison?.fixed == ["\(changed.uuidString.lowercased()) STALE_VERSION name"])
            #expect(fourth.trend.map(\.differenceCount) == [first.differenceCount, 0, 1, 0])

            // The same through the CLI and a file; a file without reasons is refused before anything runs.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pv-ignore-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let good = directory.appendingPathComponent("good.json"), bad = directory.appendingPathComponent("bad.json")
            try Data(#"{"ignore": [{"kind": "INVALID_LEGACY", "reason": "TICKET-7"}]}"#.utf8).write(to: good)
            try Data(#"{"ignore": [{"kind": "INVALID_LEGACY"}]}"#.utf8).write(to: bad)
            let accepted = try await CommandLineTool.run(["check", "--ignore-file", good.path, "--format", "json", "--database-url", db.url])
            #expect(accepted.status == 0, "\(accepted.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(accepted.stdout.utf8)) as? [String: Any])
            #expect(json["ignoredCount"] as? Int == first.differenceCount && json["differenceCount"] as? Int == 0)
            let runs = try await BackfillFixtures.count(db, "SELECT count(*) FROM check_runs")
            let refused = try await CommandLineTool.run(["check", "--ignore-file", bad.path, "--database-url", db.url])
            #expect(refused.status == 2 && refused.stderr.contains("ignore[0].reason is missing") && refused.stderr.split(separator: "\n").count == 1)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM check_runs") == runs)
        }
    }

    /// The GRANTs docs/nightly.md gives the nightly job's role, for `role` in this database.
    static func grantNightlyRole(_ role: String, in db: TestDatabase.Fresh) async throws {
        // Role and database names are generated by the test, not data.
        for statement in [
            "CREATE ROLE \(role) LOGIN",
            "GRANT CONNECT ON DATABASE \(db.name) TO \(role)",
            "GRANT USAGE ON SCHEMA public TO \(role)",
            """
            GRANT SELECT ON programs, workout_sessions, logged_sets, program_versions, program_version_workouts,
                            program_version_exercises, program_version_schedule, runtime_flags, check_runs, legacy_syncs,
                            legacy_retirements, background_controls TO \(role)
            """,
            "GRANT INSERT ON check_runs TO \(role)",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON check_progress, check_progress_findings TO \(role)",
            "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \(role)",
            "GRANT EXECUTE ON FUNCTION program_versioning_refresh_statistics(double precision) TO \(role)",
            "ALTER ROLE \(role) SET lock_timeout = '2s'",
        ] {
            try await db.pool.query(PGQuery(unsafeSQL: statement))
        }
    }

    @Test func theNightlyJobWorksAsARoleThatReadsAndInsertsOnlyItsRunRow() async throws {
        try await TestDatabase.withFresh { db in
            try await Self.migratedDatabase(db, programs: 60)
            let role = "pv_checker_" + UUID().uuidString.prefix(8).lowercased()
            try await Self.grantNightlyRole(role, in: db)
            let url = TestDatabase.url(for: db.name) + " user=\(role)"
            let clean = try await CommandLineTool.run(["check", "--format", "json", "--database-url", url])
            #expect(clean.status == 0, "\(clean.stderr)")
            let run = try await db.pool.query("SELECT status, programs_checked FROM check_runs").single().decode((String, Int).self)
            #expect(run.0 == "CLEAN" && run.1 == 60)
            // The role really is read-only elsewhere: the same statements the library would need fail.
            let connection = try await PGConnection.connect(to: url)
            for statement: PGQuery in [
                "UPDATE programs SET updated_at = now()", "DELETE FROM check_runs", "INSERT INTO backfill_runs (id, kind) VALUES (gen_random_uuid(), 'programs')",
                "UPDATE runtime_flags SET percent = 5",
            ] {
                do {
                    try await connection.query(statement)
                    Issue.record("\(statement.sql) should be refused")
                } catch {
                    #expect((error as? PGError)?.sqlState == "42501", "\(statement.sql): \(error)")
                }
            }
            await connection.close()
            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '\"x\"') WHERE id = (SELECT min(id::text)::uuid FROM programs)")
            let dirty = try await CommandLineTool.run(["check", "--database-url", url])
            #expect(dirty.status == 1)
            try await db.pool.query(PGQuery(unsafeSQL: "DROP OWNED BY \(role)"))
            try await TestDatabase.admin { try await $0.query(PGQuery(unsafeSQL: "DROP ROLE \(role)")) }
        }
    }

    @Test func repairGivesMissingAndStaleProgramsTheirNextVersionOnlyWhileReadsIsOff() async throws {
        try await TestDatabase.withFresh { db in
            try await Self.migratedDatabase(db, programs: 60)
            let stale = try await db.pool.query("SELECT id FROM programs ORDER BY id LIMIT 2").map { try $0.decode(UUID.self, at: 0) }
            try await db.pool.query("UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '\"Edited by SQL\"') WHERE id = ANY(\(stale))")
            let missing = UUID()
            try await db.pool.query("""
                INSERT INTO programs (id, user_id, program_json) VALUES (\(missing), \(UUID()), \(PGJSONB(Fixtures.program().legacyJSONText)))
                """)
            // With READS on, nothing is repaired and nothing is checked.
            let flags = FlagStore(pool: db.pool)
            _ = try await flags.set(.reads, enabled: true, percent: 10, actor: "test", reason: "repair test", force: true)
            let refused = try await CommandLineTool.run(["check", "--repair", "--database-url", db.url])
            #expect(refused.status == 2 && refused.stderr.contains("repair refused: PROGRAM_VERSIONING_READS is on"))
            _ = try await flags.set(.reads, enabled: false, actor: "test", reason: "repair test", force: false)

            let repaired = try await CommandLineTool.run(["check", "--repair", "--format", "json", "--database-url", db.url])
            #expect(repaired.status == 1 && repaired.stderr.contains("repair: 3 of 3 programs given their next version"), "\(repaired.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(repaired.stdout.utf8)) as? [String: Any])
            let checkRun = try #require(json["runId"] as? String)
            let recorded = try await db.pool.query("""
                SELECT migrated FROM backfill_runs WHERE options->>'repairOfCheck' = \(checkRun) AND status = 'SUCCEEDED'
                """).single().decode(Int.self, at: 0)
            #expect(recorded == 3)
            let versions = try await db.pool.query("""
                SELECT program_id, max(version), bool_and(created_by = 'backfill' OR version = 1) FROM program_versions
                 WHERE program_id = ANY(\(stale + [missing])) GROUP BY 1
                """).map { try $0.decode((UUID, Int32, Bool).self) }
            #expect(versions.count == 3 && versions.allSatisfy { $0.0 == missing ? $0.1 == 1 : $0.1 == 2 })
            let after = try await CommandLineTool.run(["check", "--database-url", db.url])
            #expect(after.status == 0, "\(after.stdout)")
        }
    }

    @Test func theCheckTakesNoLockAnAppQueryWouldWaitFor() async throws {
        try await TestDatabase.withFresh { db in
            try await Self.migratedDatabase(db, programs: 100)
            // Another transaction holds EXCLUSIVE locks on every table the check reads: that mode
            // admits only plain reads (ACCESS SHARE). Asking for anything stronger, the check would
            // wait and fail on its lock_timeout; it finishes, so it never takes a lock an app's
            // write (ROW EXCLUSIVE) or read could wait for.
            try await db.pool.withConnection { holder in
                try await holder.query("BEGIN")
                try await holder.query("""
                    LOCK TABLE programs, workout_sessions, logged_sets, program_versions, program_version_workouts,
                               program_version_exercises, program_version_schedule, runtime_flags IN EXCLUSIVE MODE
                    """)
                let run = try await CommandLineTool.run(
                    ["check", "--page-size", "10", "--database-url", db.url], environment: ["PGOPTIONS": "-c lock_timeout=5s"])
                #expect(run.status == 0, "\(run.stderr)")
                try await holder.query("ROLLBACK")
            }
            // The same check under a lock that also refuses plain reads does wait, and says so.
            try await db.pool.withConnection { holder in
                try await holder.query("BEGIN")
                try await holder.query("LOCK TABLE programs IN ACCESS EXCLUSIVE MODE")
                let run = try await CommandLineTool.run(
                    ["check", "--database-url", db.url], environment: ["PGOPTIONS": "-c lock_timeout=500ms"])
                #expect(run.status == 2 && run.stderr.contains("lock timeout"), "\(run.stderr)")
                try await holder.query("ROLLBACK")
            }
        }
    }
}
