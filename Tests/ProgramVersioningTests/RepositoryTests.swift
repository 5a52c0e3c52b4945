import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport
import Testing

/// A program with unknown keys at every level, as an app would store it.
enum Fixtures {
    /// Holds `programID`'s row in another transaction while `save` runs, so the save waits
    /// where it locks the row; true when it was seen waiting in a statement that starts
    /// like `statementPattern` (pg_stat_activity), i.e. the save is that single statement.
    static func saveWaitsInOneStatement(
        _ db: TestDatabase.Fresh, programID: UUID, statementPattern: String, _ save: @escaping @Sendable () async throws -> SaveResult
    ) async throws -> (SaveResult, Bool) {
        let holder = try await PGConnection.connect(to: db.url)
        try await holder.query("BEGIN")
        try await holder.query("SELECT 1 FROM programs WHERE id = \(programID) FOR UPDATE")
        let task = Task { try await save() }
        let waiting = try await BackfillRobustnessTests.waitUntil(timeout: .seconds(10)) {
            try await BackfillFixtures.count(db, """
                SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE \(statementPattern)
                """) == 1
        }
        try await holder.query("COMMIT")
        await holder.close()
        return (try await task.value, waiting)
    }

    static func program(name: String = "Upper/Lower") -> Program {
        Program(
            name: name,
            workouts: [
                Workout(id: "w-upper", name: "Upper", exercises: [
                    Exercise(id: "e-bench", name: "Bench Press", sets: 4, reps: 6, restSeconds: 150, weightKg: JSONNumber("80.5"),
                             unknownKeys: ["coachNote": .string("Tempo 3-1-1 · 注意 ✓")]),
                    Exercise(id: "e-row", name: "Barbell Row", sets: 4, reps: 8, restSeconds: 120),
                ], unknownKeys: ["aiMeta": .object(["confidence": .number(JSONNumber("0.87")!)])]),
                Workout(id: "w-lower", name: "Lower", exercises: [
                    Exercise(id: "e-squat", name: "Back Squat", sets: 5, reps: 5, restSeconds: 180, weightKg: JSONNumber("100")),
                ]),
                Workout(id: "w-core", name: "Core", exercises: [
                    Exercise(id: "e-plank", name: "Plank", sets: 3, reps: 1, restSeconds: 60),
                ]),
            ],
            schedule: [
                ScheduleEntry(dayIndex: 0, workoutID: "w-upper", unknownKeys: ["reminder": .string("07:30")]),
                ScheduleEntry(dayIndex: 2, workoutID: "w-lower"),
                ScheduleEntry(dayIndex: 4, workoutID: "w-core"),
            ],
            unknownKeys: ["appVersion": .string("4.2.0"), "big": .number(JSONNumber("1.50e300")!)])
    }

    static func repository(_ db: TestDatabase.Fresh, _ flags: FlagSnapshot, cache: Int = 100) -> ProgramRepository {
        ProgramRepository(pool: db.pool, flags: FixedFlagSource(flags), logger: Logger(label: "test"), versionCacheCapacity: cache)
    }

    static let off = FlagSnapshot(writes: false, reads: false, readPercent: 0)
    static let writesOn = FlagSnapshot(writes: true, reads: false, readPercent: 0)
    static let bothOn = FlagSnapshot(writes: true, reads: true, readPercent: 100)

    static func count(_ db: TestDatabase.Fresh, _ table: String) async throws -> Int {
        try await db.pool.query(PGQuery(unsafeSQL: "SELECT count(*) FROM \(table)")).single().decode(Int.self, at: 0)
    }

    /// Sixteen concurrent writers, each adding its own exercise `e-writer-N` to the third
    /// workout and retrying from a fresh read on conflict; returns how many retries there were.
    static func sixteenWritersEachAddingAnExercise(_ repository: ProgramRepository, to programID: UUID) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    var retries = 0
                    while true {
                        let current = try await repository.program(programID)
                        var edited = current.program
                        edited.workouts[2].exercises.append(
                            Exercise(id: "e-writer-\(writer)", name: "Writer \(writer)", sets: 1, reps: 1, restSeconds: 0))
                        do throws(RepositoryError) {
                            _ = try await repository.save(edited, to: programID, expectedRevision: current.revision)
                            return retries
                        } catch {
                            guard case .conflict = error else { throw error }
                            retries += 1
                        }
                    }
                }
            }
            return try await group.reduce(0, +)
        }
    }

    static func legacyJSON(_ db: TestDatabase.Fresh, _ id: UUID) async throws -> String {
        try await db.pool.query("SELECT program_json::text FROM programs WHERE id = \(id)").single().decode(String.self, at: 0)
    }
}

@Suite("Repository: dual writes and flag-routed reads")
struct RepositoryTests {
    @Test func concurrentUpdatesOfOneProgramAllLandThroughRetriesOnConflict() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await programs.create(Fixtures.program(), for: UUID())
            // Eight edits at once: each re-reads and re-applies on a conflict, so none is lost.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try await programs.update(created.id, maxAttempts: 50) { $0.workouts[0].exercises[0].reps += 1 } }
                }
                try await group.waitForAll()
            }
            let stored = try await programs.program(created.id)
            #expect(stored.program.workouts[0].exercises[0].reps == 6 + 8 && stored.version == 9)
            // An edit that throws saves nothing and keeps its error.
            struct NotToday: Error {}
            do {
                _ = try await programs.update(created.id) { _ in throw NotToday() }
                Issue.record("expected the edit's error")
            } catch {
                guard case .unexpected(let cause)? = error as? RepositoryError else { Issue.record("\(error)"); return }
                #expect(cause is NotToday)
            }
            #expect(try await programs.program(created.id).version == 9)
        }
    }

    @Test func aUsersProgramsAreListedOldestFirst() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let (user, other) = (UUID(), UUID())
            let first = try await programs.create(Fixtures.program(name: "First"), for: user)
            _ = try await programs.create(Fixtures.program(name: "Someone else's"), for: other)
            let second = try await programs.create(Fixtures.program(name: "Second"), for: user)
            let listed = try await programs.programs(ofUser: user)
            #expect(listed.map(\.id) == [first.id, second.id] && listed.map(\.program.name) == ["First", "Second"])
            #expect(try await programs.programs(ofUser: UUID()).isEmpty)
        }
    }

    @Test func aCancelledReadThrowsCancelledAndWritesNothing() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await programs.create(Fixtures.program(), for: UUID())
            }
            let result = await task.result
            guard case .failure(let error as RepositoryError) = result, case .cancelled = error else {
                Issue.record("expected .cancelled, got \(result)")
                return
            }
            let stored = try await db.pool.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0)
            #expect(stored == 0)
        }
    }

    @Test func withBothFlagsOffSavesWriteLegacyOnly() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.off)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            var edited = created.program
            edited.workouts[0].exercises[0].reps = 8
            let saved = try await repository.save(edited, to: created.id, expectedRevision: created.revision)
            #expect(saved.wroteLegacy && !saved.createdVersion)
            #expect(try await Fixtures.count(db, "program_versions") == 0)
            let read = try await repository.program(created.id)
            #expect(read.source == .legacy && read.program == saved.stored.program && read.revision == saved.stored.revision)
        }
    }

    @Test func withWritesOnEachChangeIsTheNextVersionAndAnUnchangedSaveWritesNothing() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            #expect(created.version == 1)
            var edited = created.program
            edited.workouts[1].name = "Legs"
            let second = try await repository.save(edited, to: created.id, expectedRevision: created.revision)
            #expect(second.createdVersion && second.stored.version == 2)
            let unchanged = try await repository.save(second.stored.program, to: created.id, expectedRevision: second.stored.revision)
            #expect(!unchanged.createdVersion && !unchanged.wroteLegacy && unchanged.stored.revision == second.stored.revision)
            let versions = try await repository.versions(of: created.id)
            #expect(versions.map(\.version) == [1, 2])
            #expect(try await repository.program(created.id, version: 1) == created.program)
            #expect(try await repository.program(created.id, version: 2) == second.stored.program)
            // Reads stay on legacy while READS is off.
            #expect(try await repository.program(created.id).source == .legacy)
        }
    }

    @Test func withBothOnReadsComeFromVersionsAndEqualTheLegacyReadUnknownKeysIncluded() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.bothOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            let fromVersions = try await repository.program(created.id)
            let fromLegacy = try await Fixtures.repository(db, Fixtures.writesOn).program(created.id)
            #expect(fromVersions.source == .versions && fromLegacy.source == .legacy)
            #expect(fromVersions.program == fromLegacy.program)
            #expect(fromVersions.program.unknownKeys["big"] == .number(JSONNumber("1.5e300")!))
            #expect(fromVersions.revision == fromLegacy.revision && fromVersions.version == 1)
            // The uncached path gives the same program.
            let uncached = try await Fixtures.repository(db, Fixtures.bothOn, cache: 0).program(created.id)
            #expect(uncached.program == fromLegacy.program)
        }
    }

    @Test func aVersionReadsBackInPositionOrderWhateverOrderItsRowsAreStoredIn() async throws {
        try await TestDatabase.withFresh { db in
            let created = try await Fixtures.repository(db, Fixtures.bothOn).create(Fixtures.program(), for: UUID())
            // Changing an indexed column and back moves a row to the end of its table's heap
            // with new index entries, so the rows at position 0 come back last from a scan
            // without ORDER BY (the reads sort by position).
            try await db.pool.withConnection { connection in
                for table in ["program_version_workouts", "program_version_exercises", "program_version_schedule"] {
                    try await connection.executeScript(unsafeSQL: """
                        ALTER TABLE \(table) DISABLE TRIGGER USER;
                        UPDATE \(table) SET position = position + 100 WHERE position = 0;
                        UPDATE \(table) SET position = position - 100 WHERE position = 100;
                        ALTER TABLE \(table) ENABLE TRIGGER USER;
                        """)
                }
            }
            let lastStored = try await db.pool.query("""
                SELECT position FROM program_version_exercises WHERE exercise_id = 'e-row' OR exercise_id = 'e-bench' ORDER BY ctid DESC LIMIT 1
                """).single().decode(Int32.self, at: 0)
            #expect(lastStored == 0, "the first exercise is now stored after the second")
            // And scans in storage order: new connections plan without index scans.
            try await db.pool.withConnection { connection in
                try await connection.executeScript(unsafeSQL: "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET enable_indexscan = off', current_database()); END $$")
            }
            let scanning = PGPool(.init(connectionString: db.url, maxConnections: 1))
            let read = try await ProgramRepository(
                pool: scanning, flags: FixedFlagSource(Fixtures.bothOn), logger: Logger(label: "test"), versionCacheCapacity: 0
            ).program(created.id)
            await scanning.close()
            #expect(read.source == .versions && read.program == Fixtures.program())
        }
    }

    @Test func aReadPercentageSendsAStableShareOfUsersToVersions() async throws {
        try await TestDatabase.withFresh { db in
            let writer = Fixtures.repository(db, Fixtures.writesOn)
            let half = Fixtures.repository(db, FlagSnapshot(writes: true, reads: true, readPercent: 50))
            var sources: [ReadSource] = []
            for _ in 0..<24 {
                let user = UUID()
                let created = try await writer.create(Fixtures.program(), for: user)
                let read = try await half.program(created.id)
                #expect(read.source == (RolloutBucket.of(user) < 50 ? .versions : .legacy))
                sources.append(read.source)
            }
            #expect(sources.contains(.versions) && sources.contains(.legacy))
        }
    }

    @Test func readsOnForAProgramNeverBackfilledServeLegacy() async throws {
        try await TestDatabase.withFresh { db in
            let legacyOnly = try await Fixtures.repository(db, Fixtures.off).create(Fixtures.program(), for: UUID())
            let read = try await Fixtures.repository(db, Fixtures.bothOn).program(legacyOnly.id)
            #expect(read.source == .legacy && read.program == legacyOnly.program && read.version == nil)
        }
    }

    @Test func aLegacyRowChangedBehindTheLibrarysBackIsServedInsteadOfItsStaleVersion() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.bothOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            try await db.pool.query("""
                UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '"Edited by an old app"') WHERE id = \(created.id)
                """)
            let read = try await repository.program(created.id)
            #expect(read.source == .legacy && read.program.name == "Edited by an old app")
        }
    }

    @Test func aFailingVersionInsertLeavesTheLegacyJSONUnchanged() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            let before = try await Fixtures.legacyJSON(db, created.id)
            try await db.pool.withConnection { connection in
                try await connection.executeScript(unsafeSQL: """
                    CREATE FUNCTION fail_exercise_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'injected failure'; END $$;
                    CREATE TRIGGER fail_exercise_insert BEFORE INSERT ON program_version_exercises
                      FOR EACH ROW EXECUTE FUNCTION fail_exercise_insert();
                    """)
            }
            var edited = created.program
            edited.name = "Renamed"
            await #expect(throws: RepositoryError.self) {
                try await repository.save(edited, to: created.id, expectedRevision: created.revision)
            }
            let after = try await Fixtures.legacyJSON(db, created.id)
            #expect(after == before)
            #expect(try await repository.versions(of: created.id).map(\.version) == [1])
        }
    }

    @Test func sixteenConcurrentWritersLoseNoUpdateAndLeaveConsecutiveVersions() async throws {
        try await TestDatabase.withFresh(maxConnections: 8) { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            _ = try await Fixtures.sixteenWritersEachAddingAnExercise(repository, to: created.id)
            let final = try await repository.program(created.id)
            #expect(Set(final.program.workouts[2].exercises.map(\.id)).isSuperset(of: (0..<16).map { "e-writer-\($0)" }))
            #expect(try await repository.versions(of: created.id).map(\.version) == Array(1...17))
        }
    }

    /// A dual write of a program this instance has read is one statement: it locks the row,
    /// checks the revision and the latest version, rewrites the legacy JSON and inserts the
    /// next version, and its result is what the next read says. A conflict still is one.
    @Test func aDualWriteOfAProgramTheInstanceHasReadIsOneStatement() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            let read = try await Fixtures.repository(db, Fixtures.writesOn).program(created.id)
            // A fresh instance that has only read it: the read taught it the latest version.
            let app = Fixtures.repository(db, Fixtures.writesOn)
            let seen = try await app.program(created.id)
            #expect(seen.revision == read.revision)
            var edited = seen.program
            edited.name = "One statement"
            let sent = edited
            let (saved, waiting) = try await Fixtures.saveWaitsInOneStatement(
                db, programID: created.id, statementPattern: "WITH go AS MATERIALIZED%UPDATE programs%"
            ) { try await app.save(sent, to: created.id, expectedRevision: seen.revision) }
            #expect(waiting, "the save did not wait in its single statement")
            #expect(saved.createdVersion && saved.wroteLegacy && saved.stored.version == 2)
            let again = try await repository.program(created.id)
            #expect(again.revision == saved.stored.revision && again.program.name == "One statement")
            let legacyName = try await db.pool.query("SELECT program_json->>'name' FROM programs WHERE id = \(created.id)")
                .single().decode(String.self, at: 0)
            #expect(legacyName == "One statement")
            // The old revision is a conflict, decided on the locking path, and nothing is written.
            await #expect(throws: RepositoryError.self) { try await app.save(edited, to: created.id, expectedRevision: seen.revision) }
            #expect(try await repository.versions(of: created.id).map(\.version) == [1, 2])
            try await PhaseFiveFixtures.requireCleanCheck(db)
        }
    }

    @Test func anAIEditWithoutIdsKeepsTheIdsThroughASave() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            // The AI returns the program as JSON without any id, workouts reordered.
            var shuffled = created.program
            shuffled.workouts.reverse()
            let stripped = shuffled.legacyJSONText.replacingOccurrences(of: #""id":"[^"]*","#, with: "", options: .regularExpression)
            let aiEdit = try Program(legacyJSON: Array(stripped.utf8))
            let saved = try await repository.save(aiEdit, to: created.id, expectedRevision: created.revision)
            #expect(Set(saved.stored.program.workouts.map(\.id)) == ["w-upper", "w-lower", "w-core"])
            #expect(saved.stored.program.workouts.first { $0.id == "w-upper" }?.exercises.map(\.id) == ["e-bench", "e-row"])
            #expect(saved.changes.items(.added).isEmpty && saved.changes.items(.removed).isEmpty)
        }
    }
}

@Suite("Repository: bad input writes nothing")
struct RepositoryBadInputTests {
    @Test func anInvalidProgramIsRefusedWithEveryViolation() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            let before = try await Fixtures.legacyJSON(db, created.id)
            var broken = created.program
            broken.name = ""
            broken.workouts[0].exercises[0].sets = 99
            do throws(RepositoryError) {
                _ = try await repository.save(broken, to: created.id, expectedRevision: created.revision)
                Issue.record("expected a refusal")
            } catch {
                guard case .invalidProgram(let validation) = error else { throw error }
                #expect(validation.violations.map(\.path.description) == ["name", "workouts[0].exercises[0].sets"])
                #expect(error.description.hasPrefix("program not saved: the program breaks 2 rules"))
            }
            #expect(try await Fixtures.legacyJSON(db, created.id) == before)
            #expect(try await Fixtures.count(db, "program_versions") == 1)
        }
    }

    @Test func anUnknownProgramIdIsNotFound() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.bothOn)
            let missing = UUID()
            for call in 0..<4 {
                do throws(RepositoryError) {
                    switch call {
                    case 0: _ = try await repository.program(missing)
                    case 1: _ = try await repository.save(Fixtures.program(), to: missing, expectedRevision: Revision("1"))
                    case 2: _ = try await repository.versions(of: missing)
                    default: _ = try await repository.program(missing, version: 1)
                    }
                    Issue.record("call \(call) should have failed")
                } catch {
                    guard case .programNotFound(let id) = error else { throw error }
                    #expect(id == missing)
                    #expect(error.description.contains("does not exist"))
                }
            }
            #expect(try await Fixtures.count(db, "programs") == 0)
        }
    }

    @Test func aStaleRevisionIsAConflictAndWritesNothing() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            var first = created.program
            first.name = "First"
            _ = try await repository.save(first, to: created.id, expectedRevision: created.revision)
            let afterFirst = try await Fixtures.legacyJSON(db, created.id)
            var second = created.program
            second.name = "Second, from a stale read"
            do throws(RepositoryError) {
                _ = try await repository.save(second, to: created.id, expectedRevision: created.revision)
                Issue.record("expected a conflict")
            } catch {
                guard case .conflict = error else { throw error }
                #expect(error.description.contains("re-read it"))
            }
            #expect(try await Fixtures.legacyJSON(db, created.id) == afterFirst)
            #expect(try await repository.versions(of: created.id).count == 2)
        }
    }

    @Test func deletingAWorkoutThatDoesNotExistIsAClearErrorAndWritesNothing() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await repository.create(Fixtures.program(), for: UUID())
            do throws(RepositoryError) {
                _ = try await repository.deleteWorkout("w-nope", from: created.id, expectedRevision: created.revision)
                Issue.record("expected workoutNotFound")
            } catch {
                guard case .workoutNotFound(_, let workoutID) = error else { throw error }
                #expect(workoutID == "w-nope")
            }
            #expect(try await repository.versions(of: created.id).count == 1)
        }
    }
}

@Suite("Repository: workout deletion")
struct RepositoryDeletionTests {
    @Test func deletingAWorkoutRepairsTheScheduleAndClampsTheEnrollmentInOneSave() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let user = UUID()
            let created = try await repository.create(Fixtures.program(), for: user)
            try await db.pool.query("""
                INSERT INTO user_program_states (user_id, program_id, current_day_index) VALUES (\(user), \(created.id), 2)
                """)
            let (result, deletion) = try await repository.deleteWorkout("w-core", from: created.id, expectedRevision: created.revision)
            #expect(result.createdVersion && result.stored.version == 2)
            #expect(result.stored.program.schedule.map(\.workout) == [.id("w-upper"), .id("w-lower")])
            #expect(deletion.currentDayIndexChange == .init(from: 2, to: 1))
            let day = try await db.pool.query("SELECT current_day_index FROM user_program_states WHERE program_id = \(created.id)")
                .single().decode(Int.self, at: 0)
            #expect(day == 1)
            #expect(result.changes.items(.removed).map(\.subject) == [.workout(id: "w-core")])
        }
    }
}
