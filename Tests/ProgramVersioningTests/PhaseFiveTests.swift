import Foundation
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization
import TestSupport
import Testing

@Suite("Phase 5: versions are the source of truth, legacy read-only, a way back that loses nothing")
struct PhaseFiveTests {
    typealias F = PhaseFiveFixtures

    @Test func savesLeaveLegacyByteForByteUnchangedAndAdvanceVersions() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 20, seed: 71))
            let created = try await Fixtures.repository(db, Fixtures.writesOn).create(Fixtures.program(), for: UUID())
            try await F.enterPhaseFive(db)
            let legacyBefore = try await F.legacyRows(db)
            let repository = Fixtures.repository(db, F.phaseFive)

            let read = try await repository.program(created.id)
            #expect(read.source == .versions && read.version == 1)
            var edited = read.program
            edited.workouts[0].exercises[0].reps = 9
            edited.workouts[0].unknownKeys.set("aiMeta", .string("rewritten in phase 5"))
            let first = try await repository.save(edited, to: created.id, expectedRevision: read.revision)
            #expect(first.createdVersion && !first.wroteLegacy && first.stored.version == 2 && first.stored.source == .versions)
            // The revision chain works without the legacy row changing; an old revision conflicts.
            edited.name = "Renamed in phase 5"
            let second = try await repository.save(edited, to: created.id, expectedRevision: first.stored.revision)
            #expect(second.stored.version == 3 && second.stored.revision != first.stored.revision)
            await #expect(throws: RepositoryError.self) {
                _ = try await repository.save(edited, to: created.id, expectedRevision: first.stored.revision)
            }
            let (_, deletion) = try await repository.deleteWorkout("w-lower", from: created.id, expectedRevision: second.stored.revision)
            #expect(deletion.program.workouts.map(\.id) == ["w-upper", "w-core"])
            // Saving the same content again writes nothing.
            let again = try await repository.program(created.id)
            let unchanged = try await repository.save(again.program, to: created.id, expectedRevision: again.revision)
            #expect(!unchanged.createdVersion && !unchanged.wroteLegacy)

            #expect(try await F.legacyRows(db) == legacyBefore, "a phase-5 save changed a legacy row")
            let versions = try await repository.versions(of: created.id)
            #expect(versions.map(\.version) == [1, 2, 3, 4])
            let notInLegacy = try await db.pool.query("""
                SELECT count(*) FROM program_versions WHERE program_id = \(created.id) AND NOT written_to_legacy AND legacy_xmin IS NULL
                """).single().decode(Int.self, at: 0)
            #expect(notInLegacy == 3)

            // Every read path serves the newest version, even an instance that has not seen
            // the flip yet (phase-4 flags) or reads legacy (flags off): legacy is behind.
            for flags in [F.phaseFive, Fixtures.bothOn, Fixtures.off] {
                let served = try await Fixtures.repository(db, flags).program(created.id)
                #expect(served.version == 4 && served.source == .versions, "\(flags)")
                #expect(served.program.name == "Renamed in phase 5" && served.program.workouts.count == 2)
                #expect(served.program.workouts[0].unknownKeys["aiMeta"] == .string("rewritten in phase 5"))
            }
            // What a save writes follows the database's flag, not the instance's: a phase-4
            // instance saving now still leaves legacy alone.
            let stale = Fixtures.repository(db, Fixtures.bothOn)
            let current = try await stale.program(created.id)
            var late = current.program
            late.workouts[0].name = "Upper (saved by a late instance)"
            let lateSave = try await stale.save(late, to: created.id, expectedRevision: current.revision)
            #expect(lateSave.createdVersion && !lateSave.wroteLegacy && lateSave.stored.version == 5)
            #expect(try await F.legacyRows(db) == legacyBefore)
        }
    }

    @Test func theDatabaseRefusesHandWrittenChangesOfLegacyJSON() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 5, seed: 72))
            let id = try await db.pool.query("SELECT id FROM programs LIMIT 1").single().decode(UUID.self, at: 0)
            try await F.enterPhaseFive(db)
            func refusal(_ query: PGQuery) async -> String? {
                do {
                    try await db.pool.query(query)
                    return nil
                } catch let error as PGError {
                    return error.sqlState
                } catch {
                    return "\(error)"
                }
            }
            #expect(await refusal("UPDATE programs SET program_json = '{\"name\": \"hand\"}' WHERE id = \(id)") == "PVL01")
            #expect(await refusal("UPDATE programs SET program_json = program_json || '{\"x\": 1}'") == "PVL01")
            #expect(await refusal("INSERT INTO programs (id, user_id, program_json) VALUES (\(UUID()), \(UUID()), '{}')") == "PVL01")
            #expect(await refusal("DELETE FROM programs WHERE id = \(id)") == "PVL01")
            // The message says why and what to do.
            do {
                try await db.pool.query("UPDATE programs SET program_json = '{}' WHERE id = \(id)")
            } catch let error as PGError {
                #expect(error.message.contains("PROGRAM_VERSIONING_LEGACY_READONLY is on"))
                #expect(error.hint?.contains("backfill legacy") == true)
            }
            // Other columns stay writable; an UPDATE that sets the same JSON changes nothing and passes.
            #expect(await refusal("UPDATE programs SET updated_at = now() WHERE id = \(id)") == nil)
            #expect(await refusal("UPDATE programs SET program_json = program_json WHERE id = \(id)") == nil)
            // With the flag off (legacy up to date: nothing was edited), the app's SQL works again.
            try await FlagStore(pool: db.pool).set(.legacyReadOnly, enabled: false, actor: "test", reason: "rollback", force: false)
            #expect(await refusal("UPDATE programs SET program_json = program_json || '{\"x\": 1}' WHERE id = \(id)") == nil)
        }
    }

    @Test func everyRefusedTransitionSaysWhyAndExitsOne() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 10, seed: 73))
            let store = FlagStore(pool: db.pool)
            func refused(_ arguments: [String], _ rule: String, hint: String) async throws {
                let outcome = try await F.cli(db, ["flags", "set"] + arguments)
                #expect(outcome.status == 1, "\(arguments): \(outcome.stdout) \(outcome.stderr)")
                #expect(outcome.stderr.split(separator: "\n").count == 1, "\(outcome.stderr)")
                #expect(outcome.stderr.contains(rule) && outcome.stderr.contains(hint), "\(arguments): \(outcome.stderr)")
            }
            // Phase 1 and 2: not yet.
            try await refused(["legacy-readonly", "on"], "LEGACY_READONLY_NEEDS_FULL_READS", hint: "--percent 100")
            try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            try await F.requireCleanCheck(db)
            try await refused(["PROGRAM_VERSIONING_LEGACY_READONLY", "on"], "LEGACY_READONLY_NEEDS_FULL_READS", hint: "--percent 100")
            // Phase 4 at 50 %: not yet either.
            try await store.set(.reads, enabled: true, percent: 50, actor: "test", reason: nil, force: false)
            try await refused(["legacy-readonly", "on"], "LEGACY_READONLY_NEEDS_FULL_READS", hint: "--percent 100")
            // At 100 %, the clean check from before READS reached 100 % does not count.
            try await store.set(.reads, enabled: true, percent: 100, actor: "test", reason: nil, force: false)
            try await refused(["legacy-readonly", "on"], "LEGACY_READONLY_NEEDS_CLEAN_CHECK", hint: "run program-versioning check")
            try await refused(["legacy-readonly", "on", "--force"], "FORCE_NEEDS_REASON", hint: "--reason")
            try await F.requireCleanCheck(db)
            let on = try await F.cli(db, ["flags", "set", "legacy-readonly", "on", "--reason", "phase 5"])
            #expect(on.status == 0 && on.stdout.contains("PROGRAM_VERSIONING_LEGACY_READONLY: off -> on") && on.stdout.contains("phase 5"))

            // While it is on, READS and WRITES are locked.
            try await refused(["reads", "off"], "READS_LOCKED_BY_LEGACY_READONLY", hint: "backfill legacy")
            try await refused(["reads", "on", "--percent", "50"], "READS_LOCKED_BY_LEGACY_READONLY", hint: "backfill legacy")
            try await refused(["writes", "off"], "WRITES_OFF_NEEDS_LEGACY_READONLY_OFF", hint: "backfill legacy")
            // Off only once legacy holds every latest version.
            let id = try await db.pool.query("SELECT id FROM programs LIMIT 1").single().decode(UUID.self, at: 0)
            try await F.edit([id], with: Fixtures.repository(db, F.phaseFive))
            try await refused(["legacy-readonly", "off"], "LEGACY_BEHIND", hint: "run program-versioning backfill legacy --flag-off")
            let writeBack = try await F.cli(db, ["backfill", "legacy"])
            #expect(writeBack.status == 0, "\(writeBack.stderr)")
            let off = try await F.cli(db, ["flags", "set", "legacy-readonly", "off", "--reason", "rollback"])
            #expect(off.status == 0, "\(off.stderr)")

            // flags show and history know the phase.
            let shown = try F.json(try await F.cli(db, ["flags", "show", "--json"]))
            #expect((shown["PROGRAM_VERSIONING_LEGACY_READONLY"] as? [String: Any])?["enabled"] as? Bool == false)
            let shownText = try await F.cli(db, ["flags", "show"])
            #expect(shownText.stdout.contains("PROGRAM_VERSIONING_LEGACY_READONLY off") && shownText.stdout.contains("phase 4 (read switch"))
            let history = try await F.cli(db, ["flags", "history"])
            #expect(history.stdout.contains("PROGRAM_VERSIONING_LEGACY_READONLY on -> off") && history.stdout.contains("[phase 5"))
            let refusedFlipsLeftNoAudit = try await store.history().filter { $0.name == FlagName.legacyReadOnly.rawValue }.count
            #expect(refusedFlipsLeftNoAudit == 2)
        }
    }

    @Test func backfillLegacyAfterEditsMakesCheckCleanWithTheFlagOffAndKeepsUnknownKeys() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 120, seed: 74))
            let dualWrite = Fixtures.repository(db, Fixtures.writesOn)
            var appPrograms: [UUID] = []
            for index in 0..<5 { appPrograms.append(try await dualWrite.create(Fixtures.program(name: "App \(index)"), for: UUID()).id) }
            try await F.enterPhaseFive(db)
            let repository = Fixtures.repository(db, F.phaseFive)
            let seeded = try await db.pool.query("SELECT id FROM programs ORDER BY id LIMIT 30").map { try $0.decode(UUID.self, at: 0) }
            try await F.edit(appPrograms, times: 4, with: repository)
            try await F.edit(seeded, times: 2, with: repository)
            // Deleting a workout moves the others: the legacy schedule must point at new positions.
            for id in appPrograms.prefix(2) {
                let stored = try await repository.program(id)
                _ = try await repository.deleteWorkout("w-upper", from: id, expectedRevision: stored.revision)
            }
            let edited = Set(appPrograms + seeded)
            let check = try await ConsistencyCheck(pool: db.pool).run()
            #expect(check.isClean && check.legacyBehind == edited.count, "legacy behind is expected in phase 5, and counted")

            let before = try await BackfillFixtures.digest(db, tables: BackfillFixtures.dataTables + ["legacy_syncs"])
            let dry = try F.json(try await F.cli(db, ["backfill", "legacy", "--dry-run", "--json"]))
            #expect(dry["written"] as? Int == edited.count && dry["dryRun"] as? Bool == true)
            #expect(try await BackfillFixtures.digest(db, tables: BackfillFixtures.dataTables + ["legacy_syncs"]) == before)

            let run = try F.json(try await F.cli(db, ["backfill", "legacy", "--json", "--batch-size", "7"]))
            let (seen, written, unchanged, reported) = (
                run["seen"] as? Int ?? -1, run["written"] as? Int ?? -1, run["unchanged"] as? Int ?? -1, run["reported"] as? Int ?? -1)
            #expect(seen == 125 && written == edited.count && reported == 0 && seen == written + unchanged + reported)
            #expect(run["status"] as? String == "SUCCEEDED" && run["runId"] != nil)

            // Every program's legacy JSON is its latest version: same canonical content, the
            // app's unknown keys included, the schedule as positions of the right workouts.
            let latest = try await F.latestVersions(db)
            for (id, version) in latest {
                let text = try await Fixtures.legacyJSON(db, id)
                let legacy = try Program(legacyJSON: Array(text.utf8))
                let versioned = try await repository.program(id, version: version.version)
                #expect(legacy == versioned && legacy.canonicalChecksum == version.checksum, "\(id)")
                guard edited.contains(id), case .object(let object)? = try? JSONValue.parse(text),
                      case .array(let schedule)? = object["schedule"], case .array(let workouts)? = object["workouts"] else { continue }
                for (entry, expected) in zip(schedule, versioned.schedule) {
                    guard case .object(let fields) = entry, case .number(let index)? = fields["workoutIndex"],
                          let position = Int(index.canonical), case .object(let workout) = workouts[position],
                          case .string(let workoutID)? = workout["id"], case .id(let expectedID) = expected.workout
                    else { Issue.record("schedule entry of \(id) is not {dayIndex, workoutIndex}"); continue }
                    #expect(workoutID == expectedID)
                }
            }
            let app = try Program(legacyJSON: Array(try await Fixtures.legacyJSON(db, appPrograms[4]).utf8))
            #expect(app.unknownKeys["appVersion"] == .string("4.2.0") && app.workouts[0].unknownKeys["aiMeta"] != nil)
            #expect(app.workouts[0].exercises.last?.unknownKeys["addedBy"] == .string("phase 5 test"))

            // A re-run writes nothing; the flag goes off; the check is clean with legacy compared again.
            let rerun = try F.json(try await F.cli(db, ["backfill", "legacy", "--json"]))
            #expect(rerun["written"] as? Int == 0 && rerun["unchanged"] as? Int == 125)
            let off = try await F.cli(db, ["flags", "set", "legacy-readonly", "off", "--reason", "rollback"])
            #expect(off.status == 0, "\(off.stderr)")
            let after = try await F.cli(db, ["check", "--format", "json"])
            #expect(after.status == 0, "\(after.stdout.prefix(2_000))")
            let report = try F.json(after)
            #expect(report["differenceCount"] as? Int == 0 && report["legacyBehind"] as? Int == 0 && report["phase"] as? Int == 4)
        }
    }

    @Test func aProgramCreatedInPhaseFiveIsReadableFromLegacyAfterTheRollback() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 10, seed: 75))
            try await F.enterPhaseFive(db)
            let repository = Fixtures.repository(db, F.phaseFive)
            let created = try await repository.create(Fixtures.program(name: "Born in phase 5"), for: UUID())
            // It has its legacy row at once, written from its first version.
            let firstJSON = try Program(legacyJSON: Array(try await Fixtures.legacyJSON(db, created.id).utf8))
            #expect(firstJSON == created.program)
            try await F.edit([created.id], times: 2, with: repository)
            let edited = try await repository.program(created.id)
            #expect(edited.version == 3 && edited.source == .versions)

            // Back to phase 1, by the rules.
            let store = FlagStore(pool: db.pool)
            _ = try await Backfill(pool: db.pool).run(.legacy, options: .init())
            try await store.set(.legacyReadOnly, enabled: false, actor: "test", reason: "rollback", force: false)
            try await store.set(.reads, enabled: false, actor: "test", reason: "rollback", force: false)
            try await store.set(.writes, enabled: false, actor: "test", reason: "rollback", force: false)
            let legacy = try await Fixtures.repository(db, Fixtures.off).program(created.id)
            #expect(legacy.source == .legacy && legacy.program == edited.program)
            // And the legacy app can go on editing it.
            var next = legacy.program
            next.name = "Edited after the rollback"
            let saved = try await Fixtures.repository(db, Fixtures.off).save(next, to: created.id, expectedRevision: legacy.revision)
            #expect(saved.wroteLegacy && !saved.createdVersion)
        }
    }

    @Test func aKilledBackfillLegacyResumesToTheStateOfAnUninterruptedRun() async throws {
        let seed = LegacySeeder.Options(programs: 1_200, seed: 76, sessionsPerProgram: 0)
        func prepare(_ db: TestDatabase.Fresh) async throws {
            try await LegacySeeder(pool: db.pool).seed(seed)
            try await F.enterPhaseFive(db)
            let ids = try await db.pool.query("SELECT id FROM programs ORDER BY id").map { try $0.decode(UUID.self, at: 0) }
            try await F.edit(ids, with: Fixtures.repository(db, F.phaseFive))
        }
        let reference = try await TestDatabase.withFresh { db in
            try await prepare(db)
            _ = try await Backfill(pool: db.pool).run(.legacy, options: .init(batchSize: 10))
            return try await F.writeBackShape(db)
        }
        try await TestDatabase.withFresh { db in
            try await prepare(db)
            let process = try CommandLineTool.start(["backfill", "legacy", "--batch-size", "10", "--database-url", db.url])
            let started = try await BackfillRobustnessTests.waitUntil {
                try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE kind = 'legacy' AND seen >= 300") > 0
            }
            kill(process.processIdentifier, SIGKILL)
            #expect(started)
            #expect(try await BackfillRobustnessTests.waitUntil { !process.isRunning })
            let (status, seen) = try await db.pool.query("SELECT status, seen FROM backfill_runs WHERE kind = 'legacy'").single()
                .decode((String, Int).self)
            #expect(status == "RUNNING" && seen < 1_200, "the kill came after the run finished")
            let resumed = try await BackfillRobustnessTests.waitUntil {
                let outcome = try await F.cli(db, ["backfill", "legacy", "--batch-size", "10", "--json"])
                guard outcome.status == 0 else { return false }  // the killed backend may still hold the lock a moment
                let json = try F.json(outcome)
                #expect(json["resumed"] as? Bool == true && json["seen"] as? Int == 1_200 && json["written"] as? Int == 1_200)
                return true
            }
            #expect(resumed)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE kind = 'legacy'") == 1)
            #expect(try await F.writeBackShape(db) == reference)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versioning_legacy_behind()") == 0)
        }
    }

    @Test func versionRowsChangedBehindTheLibrarysBackAreReportedNotWritten() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 30, seed: 77))
            try await F.enterPhaseFive(db)
            let ids = try await db.pool.query("SELECT id FROM programs ORDER BY id LIMIT 3").map { try $0.decode(UUID.self, at: 0) }
            try await F.edit(ids, with: Fixtures.repository(db, F.phaseFive))
            // A phase-5 version's exercise rewritten with the immutability trigger off.
            try await db.pool.transaction { connection in
                try await connection.query("ALTER TABLE program_version_exercises DISABLE TRIGGER program_version_exercises_immutable")
                try await connection.query("""
                    UPDATE program_version_exercises SET reps = reps % 20 + 1
                     WHERE id = (SELECT e.id FROM program_version_exercises e JOIN program_versions v ON v.id = e.program_version_id
                                  WHERE v.program_id = \(ids[1]) AND NOT v.written_to_legacy LIMIT 1)
                    """)
                try await connection.query("ALTER TABLE program_version_exercises ENABLE TRIGGER program_version_exercises_immutable")
            }
            let before = try await Fixtures.legacyJSON(db, ids[1])
            let run = try F.json(try await F.cli(db, ["backfill", "legacy", "--json"]))
            #expect(run["written"] as? Int == 2 && run["reported"] as? Int == 1)
            #expect((run["reportsByReason"] as? [String: Int])?["VERSION_ROWS_CHANGED"] == 1)
            #expect(try await Fixtures.legacyJSON(db, ids[1]) == before, "a damaged version was written into legacy")
            let off = try await F.cli(db, ["flags", "set", "legacy-readonly", "off"])
            #expect(off.status == 1 && off.stderr.contains("LEGACY_BEHIND") && off.stderr.contains("1 programs"))
        }
    }

    @Test func savesDuringTheWriteBackNeverLeaveLegacyBehindOnceTheFlagIsOff() async throws {
        try await TestDatabase.withFresh(maxConnections: 12) { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 600, seed: 78, sessionsPerProgram: 0))
            try await F.enterPhaseFive(db)
            let ids = try await db.pool.query("SELECT id FROM programs ORDER BY random()").map { try $0.decode(UUID.self, at: 0) }
            let repository = Fixtures.repository(db, F.phaseFive)
            try await F.edit(Array(ids.prefix(400)), with: repository)
            // Two app workers keep saving while the write-back runs and turns the flag off.
            let stop = StopSignal()
            let workers = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for worker in 0..<2 {
                        group.addTask {
                            var saved = 0
                            var round = 0
                            while !stop.isSet {
                                round += 1
                                let id = ids[(worker * 97 + round * 13) % ids.count]
                                guard let stored = try? await repository.program(id) else { continue }
                                var edited = stored.program
                                edited.name = "worker \(worker) round \(round)"
                                if (try? await repository.save(edited, to: id, expectedRevision: stored.revision)) != nil { saved += 1 }
                            }
                            return saved
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            let run = try F.json(try await F.cli(db, ["backfill", "legacy", "--batch-size", "25", "--flag-off", "--reason", "test", "--json"]))
            #expect(run["legacyReadOnlyTurnedOff"] as? Bool == true)
            try await Task.sleep(for: .milliseconds(300))  // the workers save on, as dual writes now
            stop.set()
            let saves = try await workers.value
            #expect(saves > 20, "the app was saving during the run")
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versioning_legacy_behind()") == 0)
            // Legacy holds every program's latest version: the check compares them all.
            try await F.requireCleanCheck(db)
        }
    }

    @Test func sixteenConcurrentPhaseFiveWritersLoseNoUpdateAndLeaveConsecutiveVersions() async throws {
        try await TestDatabase.withFresh(maxConnections: 8) { db in
            let created = try await Fixtures.repository(db, Fixtures.writesOn).create(Fixtures.program(), for: UUID())
            try await F.enterPhaseFive(db)
            let legacyBefore = try await F.legacyRows(db)
            // One repository, as one app instance: its single-statement path and the locking
            // path race each other and themselves.
            let repository = Fixtures.repository(db, F.phaseFive)
            let conflicts = try await Fixtures.sixteenWritersEachAddingAnExercise(repository, to: created.id)
            let final = try await repository.program(created.id)
            #expect(Set(final.program.workouts[2].exercises.map(\.id)).isSuperset(of: (0..<16).map { "e-writer-\($0)" }))
            #expect(try await repository.versions(of: created.id).map(\.version) == Array(1...17))
            #expect(conflicts > 0, "the writers never raced")
            #expect(try await F.legacyRows(db) == legacyBefore)
        }
    }

    @Test func aPhaseFiveSaveOfAProgramTheInstanceKnowsIsOneStatement() async throws {
        try await TestDatabase.withFresh { db in
            let created = try await Fixtures.repository(db, Fixtures.writesOn).create(Fixtures.program(), for: UUID())
            try await F.enterPhaseFive(db)
            let repository = Fixtures.repository(db, F.phaseFive)
            let read = try await repository.program(created.id)
            // Hold the program's row, so the save waits where it locks it, and look at what it sends.
            var edited = read.program
            edited.name = "One statement"
            let sent = edited
            let (saved, waiting) = try await Fixtures.saveWaitsInOneStatement(
                db, programID: created.id, statementPattern: "WITH go AS MATERIALIZED%"
            ) { try await repository.save(sent, to: created.id, expectedRevision: read.revision) }
            #expect(waiting, "the save did not wait in its single statement")
            #expect(saved.createdVersion && !saved.wroteLegacy && saved.stored.version == 2 && saved.stored.userID == read.userID)
            // Its revision is what the next read says.
            #expect(try await repository.program(created.id).revision == saved.stored.revision)
        }
    }

    @Test func aFlipBetweenAReadAndItsSaveIsFollowedByTheSave() async throws {
        try await TestDatabase.withFresh { db in
            let created = try await Fixtures.repository(db, Fixtures.writesOn).create(Fixtures.program(), for: UUID())
            try await F.enterPhaseFive(db)
            // An instance that still believes in phase 5 reads, then LEGACY_READONLY goes off.
            let repository = Fixtures.repository(db, F.phaseFive)
            let read = try await repository.program(created.id)
            try await FlagStore(pool: db.pool).set(.legacyReadOnly, enabled: false, actor: "test", reason: "rollback", force: false)
            var edited = read.program
            edited.name = "Saved after the flip"
            let saved = try await repository.save(edited, to: created.id, expectedRevision: read.revision)
            #expect(saved.wroteLegacy && saved.createdVersion, "the save must follow the database's flag: dual write")
            #expect(try Program(legacyJSON: Array(try await Fixtures.legacyJSON(db, created.id).utf8)).name == "Saved after the flip")
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versioning_legacy_behind()") == 0)
        }
    }
}

/// A flag one task sets and others poll.
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
