import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import TestSupport
import Testing

@Suite("backfill sessions: old sessions and sets linked to version rows or reported, legacy data untouched")
struct SessionBackfillTests {
    /// The legacy columns of sessions and sets, which the backfill must never change.
    static func legacyColumns(_ db: TestDatabase.Fresh) async throws -> String {
        try await db.pool.query("""
            SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
              SELECT 's' || id || user_id || program_id || workout_id || status || started_at || coalesce(completed_at::text, '') AS t
                FROM workout_sessions
              UNION ALL SELECT 'l' || id || session_id || user_id || exercise_id || set_index || reps
                                   || coalesce(weight_kg::text, '') || logged_at FROM logged_sets) rows
            """).single().decode(String.self, at: 0)
    }

    @Test func onMessyDataEverySessionIsLinkedOrReportedAndTheLinksAreRight() async throws {
        try await TestDatabase.withFresh { db in
            let seeded = try await LegacySeeder(pool: db.pool).seed(.init(programs: 500, messyPercent: 60, seed: 31, sessionsPerProgram: 3))
            try await BackfillFixtures.turnWritesOn(db)
            let backfill = Backfill(pool: db.pool)
            let programs = try await backfill.run(.programs, options: .init(batchSize: 100))
            let legacy = try await Self.legacyColumns(db)
            let summary = try await backfill.run(.sessions, options: .init(batchSize: 90))
            let counts = summary.counts
            #expect(counts.seen == seeded.sessions && counts.seen == counts.linked + counts.alreadyLinked + counts.reported)
            #expect(try await Self.legacyColumns(db) == legacy)
            #expect(summary.audit.isClean && summary.audit.after.sessions == seeded.sessions && summary.audit.after.sets == seeded.sets)

            // Sessions of programs the program backfill reported have no version to link to.
            let reportedPrograms = programs.counts.reported
            #expect(summary.reportsByReason["PROGRAM_HAS_NO_VERSION"] == reportedPrograms * 3)
            // One planted orphan per ORPHAN_SESSION_WORKOUT program, reported with its workout id.
            let orphans = try await db.pool.query("""
                SELECT r.detail, s.workout_id FROM backfill_reports r JOIN workout_sessions s ON s.id = r.session_id
                 WHERE r.run_id = \(summary.runID) AND r.reason = 'ORPHAN_SESSION_WORKOUT'
                """).map { try $0.decode((String, String).self) }
            #expect(orphans.count == seeded.messByKind[.orphanSessionWorkout])
            #expect(orphans.allSatisfy { $0.1.hasPrefix("w-deleted-") && $0.0.contains("workout \"\($0.1)\" is in no version") })
            #expect(counts.reported == reportedPrograms * 3 + orphans.count && counts.setsReported == 0)
            let unlinked = try await BackfillFixtures.count(db, "SELECT count(*) FROM workout_sessions WHERE workout_version_id IS NULL")
            #expect(unlinked == counts.reported)

            // Every link points at the session's own program, at a workout of that version with the
            // session's workout id (or, for id-less programs, at the position it recorded), and every
            // set of a linked session at an exercise of that very workout.
            let wrong = try await BackfillFixtures.count(db, """
                SELECT count(*) FROM workout_sessions s
                  JOIN program_version_workouts w ON w.id = s.workout_version_id
                  JOIN program_versions v ON v.id = s.program_version_id
                 WHERE v.program_id <> s.program_id OR w.program_version_id <> v.id
                    OR (w.workout_id <> s.workout_id AND w.position::text <> s.workout_id)
                    OR s.workout_name_snapshot IS DISTINCT FROM w.name
                """)
            #expect(wrong == 0)
            let byPosition = try await BackfillFixtures.count(db, """
                SELECT count(*) FROM workout_sessions s JOIN program_version_workouts w ON w.id = s.workout_version_id
                 WHERE w.workout_id <> s.workout_id
                """)
            #expect(byPosition == (seeded.messByKind[.missingIds] ?? 0) * 3)
            let setsOfLinked = try await BackfillFixtures.count(db, """
                SELECT count(*) FROM logged_sets l JOIN workout_sessions s ON s.id = l.session_id WHERE s.workout_version_id IS NOT NULL
                """)
            let wrongSets = try await BackfillFixtures.count(db, """
                SELECT count(*) FROM logged_sets l JOIN workout_sessions s ON s.id = l.session_id
                  LEFT JOIN program_version_exercises e ON e.id = l.exercise_version_id
                 WHERE s.workout_version_id IS NOT NULL
                   AND (e.id IS NULL OR e.workout_version_id <> s.workout_version_id
                        OR (e.exercise_id <> l.exercise_id AND e.position::text <> l.exercise_id))
                """)
            #expect(counts.setsLinked == setsOfLinked && wrongSets == 0)

            // Re-running changes nothing and finds everything already linked.
            let data = try await BackfillFixtures.digest(db, tables: BackfillFixtures.dataTables)
            let again = try await backfill.run(.sessions, options: .init(batchSize: 90))
            #expect(again.counts.alreadyLinked == counts.linked && again.counts.linked == 0 && again.counts.reported == counts.reported)
            #expect(try await BackfillFixtures.digest(db, tables: BackfillFixtures.dataTables) == data)
        }
    }

    @Test func aSessionLinksToTheVersionCurrentWhenItStartedElseTheEarliestHoldingItsWorkout() async throws {
        try await TestDatabase.withFresh { db in
            try await BackfillFixtures.turnWritesOn(db)
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let user = UUID()
            let created = try await repository.create(Fixtures.program(), for: user)
            try await Task.sleep(for: .milliseconds(50))
            var edited = created.program
            edited.workouts[0].name = "Upper (heavy)"
            edited.workouts.append(Workout(id: "w-arms", name: "Arms", exercises: [
                Exercise(id: "e-curl", name: "Curl", sets: 3, reps: 10, restSeconds: 60),
            ]))
            _ = try await repository.save(edited, to: created.id, expectedRevision: created.revision)
            let (v1, v2, t1, t2) = try await db.pool.query("""
                SELECT a.id, b.id, a.created_at, b.created_at FROM program_versions a, program_versions b
                 WHERE a.program_id = \(created.id) AND a.version = 1 AND b.program_id = a.program_id AND b.version = 2
                """).single().decode((UUID, UUID, Date, Date).self)
            let middle = t1.addingTimeInterval(t2.timeIntervalSince(t1) / 2)
            let cases: [(workout: String, started: Date, version: UUID, name: String)] = [
                ("w-upper", t1.addingTimeInterval(-86_400), v1, "Upper"),  // before any version: the earliest
                ("w-upper", middle, v1, "Upper"),  // version 1 was current
                ("w-upper", t2.addingTimeInterval(1), v2, "Upper (heavy)"),  // version 2 was current
                ("w-arms", middle, v2, "Arms"),  // only version 2 holds it
            ]
            var sessions: [UUID] = []
            for item in cases {
                let id = UUID()
                sessions.append(id)
                try await db.pool.query("""
                    INSERT INTO workout_sessions (id, user_id, program_id, workout_id, status, started_at)
                    VALUES (\(id), \(user), \(created.id), \(item.workout), 'COMPLETED', \(item.started))
                    """)
            }
            let summary = try await Backfill(pool: db.pool).run(.sessions, options: .init())
            #expect(summary.counts.linked == 4)
            for (id, item) in zip(sessions, cases) {
                let (version, name) = try await db.pool.query(
                    "SELECT program_version_id, workout_name_snapshot FROM workout_sessions WHERE id = \(id)"
                ).single().decode((UUID, String).self)
                #expect(version == item.version && name == item.name, "\(item.workout) at \(item.started)")
            }
        }
    }

    @Test func setsOutsideTheWorkoutAndPositionsInProgramsWithOwnIdsAreReportedNotGuessed() async throws {
        try await TestDatabase.withFresh { db in
            try await BackfillFixtures.turnWritesOn(db)
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let user = UUID()
            let created = try await repository.create(Fixtures.program(), for: user)
            // The app links sessions it starts itself; they are already linked.
            let sessions = WorkoutSessions(pool: db.pool, logger: Logger(label: "test"))
            let live = try await sessions.start(userID: user, programID: created.id, workoutID: "w-lower")
            try await sessions.logSet(sessionID: live.id, exerciseID: "e-squat", setIndex: 0, reps: 5)
            let (old, positional) = (UUID(), UUID())
            try await db.pool.query("""
                INSERT INTO workout_sessions (id, user_id, program_id, workout_id, status)
                VALUES (\(old), \(user), \(created.id), 'w-upper', 'COMPLETED'), (\(positional), \(user), \(created.id), '0', 'COMPLETED')
                """)
            let (good, stray) = (UUID(), UUID())
            try await db.pool.query("""
                INSERT INTO logged_sets (id, session_id, user_id, exercise_id, set_index, reps)
                VALUES (\(good), \(old), \(user), 'e-bench', 0, 6), (\(stray), \(old), \(user), 'e-squat', 1, 5)
                """)
            let summary = try await Backfill(pool: db.pool).run(.sessions, options: .init())
            let counts = summary.counts
            #expect(counts.seen == 3 && counts.alreadyLinked == 1 && counts.linked == 1 && counts.reported == 1)
            #expect(counts.setsLinked == 1 && counts.setsReported == 1)
            let reports = try await db.pool.query("""
                SELECT session_id, logged_set_id, reason, detail FROM backfill_reports WHERE run_id = \(summary.runID) ORDER BY reason
                """).map { try $0.decode((UUID, UUID?, String, String).self) }
            #expect(reports.count == 2)
            #expect(reports[0].0 == positional && reports[0].2 == "ORPHAN_SESSION_WORKOUT" && reports[0].3.contains("workout \"0\""))
            #expect(reports[1].1 == stray && reports[1].2 == "SET_EXERCISE_NOT_IN_WORKOUT" && reports[1].3.contains("exercise \"e-squat\""))
            let strayLink = try await db.pool.query("SELECT exercise_version_id FROM logged_sets WHERE id = \(stray)").single()
                .decode(UUID?.self, at: 0)
            #expect(strayLink == nil)
        }
    }

    @Test func theSQLIdRuleIsTheDomainRule() async throws {
        try await TestDatabase.withFresh { db in
            let names = ["Upper A", "Jambes 💪", "Kraft Oberkörper", "注意 form ✓", "", "tab\there", "quote \" and \\ backslash", "e\u{301}"]
            for (position, name) in names.enumerated() {
                let (workout, exercise) = try await db.pool.query("""
                    SELECT program_versioning_generated_workout_id(\(position)::int, \(name)),
                           program_versioning_generated_exercise_id(\("w-x" + name), \(position + 3)::int, \(name))
                    """).single().decode((String, String).self)
                #expect(workout == GeneratedIDs.workoutID(position: position, name: name))
                #expect(exercise == GeneratedIDs.exerciseID(workoutID: "w-x" + name, position: position + 3, name: name))
            }
        }
    }
}
