import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization
import TestSupport
import Testing

/// The rollout as the app's team runs it (DESIGN.md §1, docs/runbook.md), on seeded messy
/// data, with app traffic running the whole time, every operator step through the CLI:
///
/// 1. legacy: WRITES off, READS off
/// 2. dual write: `flags set PROGRAM_VERSIONING_WRITES on`
/// 3. backfill: `backfill programs`, `backfill sessions`
/// 4. verify: `check` (the programs the backfill could not migrate accepted in an ignore file)
/// 5. read switch: `flags set PROGRAM_VERSIONING_READS on --percent 10`, then 100
/// 6. legacy read-only (phase 5): a clean check, `flags set PROGRAM_VERSIONING_LEGACY_READONLY on`;
///    the app's saves write versions only, the legacy rows stay exactly as they were
/// 7. rollback, in the right order, the app saving throughout: READS, WRITES and
///    LEGACY_READONLY off are refused while legacy is behind; `backfill legacy --flag-off`;
///    READS off; WRITES off; a final check finds legacy holding every program's latest version
///
/// After every step it proves that no program, version, session or set was lost or changed.
@Suite("The rollout, end to end, with app traffic throughout")
struct RolloutTests {
    @Test func messyLegacyDataGoesThroughEveryPhaseAndBackWithoutLosingAnything() async throws {
        try await TestDatabase.withFresh(maxConnections: 12) { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 300, messyPercent: 40, seed: 61))
            let inventory = try await Inventory(db)
            try await inventory.provesNothingWasLost("phase 1, legacy")

            // The app: instances follow the flag store, as a deployed service does.
            let flags = DatabaseFlagSource(connectionString: db.url, logger: Logger(label: "app"), refreshInterval: .seconds(1))
            let following = Task { await flags.run() }
            let traffic = AppTraffic(db, flags: flags, programs: inventory.programs)
            let app = Task { await traffic.run() }

            func cli(_ arguments: [String], expect status: Int32 = 0) async throws -> CommandLineTool.Outcome {
                let outcome = try await CommandLineTool.run(arguments + ["--database-url", db.url])
                #expect(outcome.status == status, "\(arguments.joined(separator: " ")): \(outcome.stderr)")
                return outcome
            }
            func appSees(_ writes: Bool, _ reads: Bool, percent: Int? = nil, legacyReadOnly: Bool = false) async throws {
                let seen = try await BackfillRobustnessTests.waitUntil(timeout: .seconds(5)) {
                    let now = flags.current()
                    return now.writes == writes && now.reads == reads && (percent == nil || now.readPercent == percent)
                        && now.legacyReadOnly == legacyReadOnly
                }
                #expect(seen, "the app never saw WRITES \(writes) READS \(reads) LEGACY_READONLY \(legacyReadOnly)")
            }
            try await traffic.waitForActivity()

            // 2. Dual write. READS first is refused, whoever asks.
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_READS", "on", "--reason", "too early"], expect: 1)
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_WRITES", "on", "--reason", "phase 2"])
            try await appSees(true, false)
            try await traffic.waitForActivity()
            try await inventory.provesNothingWasLost("phase 2, dual write")

            // 3. Backfill, while the app keeps saving.
            let programs = try await cli(["backfill", "programs", "--json"])
            let sessions = try await cli(["backfill", "sessions", "--json"])
            for (output, keys) in [(programs, ["migrated", "unchanged"]), (sessions, ["linked", "alreadyLinked"])] {
                let json = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
                let parts = keys.map { json[$0] as? Int ?? -1 } + [json["reported"] as? Int ?? -1]
                #expect(json["seen"] as? Int == parts.reduce(0, +))
            }
            try await inventory.provesNothingWasLost("phase 3, backfill")

            // 4. Verify. The programs the backfill reported stay legacy-only, accepted with a reason.
            let ignoreFile = FileManager.default.temporaryDirectory.appendingPathComponent("pv-rollout-\(UUID().uuidString).json")
            defer { try? FileManager.default.removeItem(at: ignoreFile) }
            try Data(#"{"ignore": [{"kind": "INVALID_LEGACY", "reason": "legacy-only until the app team fixes them"}]}"#.utf8)
                .write(to: ignoreFile)
            let check = try await cli(["check", "--ignore-file", ignoreFile.path])
            #expect(check.stdout.hasPrefix("check: CLEAN"), "\(check.stdout.prefix(2_000))")
            try await inventory.provesNothingWasLost("phase 4, clean check")

            // 5. Read switch: 10 % of users, then everyone.
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_READS", "on", "--percent", "10", "--reason", "canary"])
            try await appSees(true, true, percent: 10)
            try await traffic.waitForActivity()
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_READS", "on", "--percent", "100", "--reason", "everyone"])
            try await appSees(true, true, percent: 100)
            let beforeFull = traffic.versionReads
            try await traffic.waitForActivity()
            #expect(traffic.versionReads > beforeFull, "with READS at 100 % the app reads versions")
            try await inventory.provesNothingWasLost("phase 4, reads from versions")

            // 6. Legacy read-only. The check must start after READS reached 100 %.
            let checkAtFull = try await cli(["check", "--ignore-file", ignoreFile.path])
            #expect(checkAtFull.stdout.hasPrefix("check: CLEAN"), "\(checkAtFull.stdout.prefix(2_000))")
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_LEGACY_READONLY", "on", "--reason", "phase 5"])
            try await appSees(true, true, percent: 100, legacyReadOnly: true)
            let frozen = try await PhaseFiveFixtures.legacyRows(db)
            let phaseFiveSavesBefore = traffic.versionOnlySaves
            try await traffic.waitForActivity()
            try await traffic.waitForActivity()
            #expect(traffic.versionOnlySaves > phaseFiveSavesBefore, "in phase 5 saves write versions only")
            #expect(try await PhaseFiveFixtures.legacyRows(db) == frozen, "a phase-5 save changed a legacy row")
            let created = try await ProgramRepository(pool: db.pool, flags: flags, logger: Logger(label: "app"))
                .create(Fixtures.program(name: "Created in phase 5"), for: UUID())
            let phaseFiveCheck = try await cli(["check", "--ignore-file", ignoreFile.path, "--format", "json"], expect: 0)
            let phaseFiveReport = try PhaseFiveFixtures.json(phaseFiveCheck)
            #expect((phaseFiveReport["legacyBehind"] as? Int ?? 0) > 0 && phaseFiveReport["phase"] as? Int == 5)
            try await inventory.provesNothingWasLost("phase 5, legacy read-only")

            // 7. Rollback with the app saving: nothing goes off while legacy is behind, then
            // the write-back turns LEGACY_READONLY off as it finishes.
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_READS", "off", "--reason", "rollback"], expect: 1)
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_WRITES", "off", "--reason", "rollback"], expect: 1)
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_LEGACY_READONLY", "off", "--reason", "rollback"], expect: 1)
            let writeBack = try await cli(["backfill", "legacy", "--flag-off", "--reason", "rollback", "--json"])
            let writeBackJSON = try PhaseFiveFixtures.json(writeBack)
            #expect(writeBackJSON["legacyReadOnlyTurnedOff"] as? Bool == true)
            #expect(writeBackJSON["seen"] as? Int == (writeBackJSON["written"] as? Int ?? -1)
                + (writeBackJSON["unchanged"] as? Int ?? -1) + (writeBackJSON["reported"] as? Int ?? -1))
            try await appSees(true, true, percent: 100)
            try await traffic.waitForActivity()
            try await inventory.provesNothingWasLost("phase 4 again, after the write-back")
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_WRITES", "off", "--reason", "rollback"], expect: 1)
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_READS", "off", "--reason", "rollback"])
            try await appSees(true, false)
            try await traffic.waitForActivity()
            // Back in phase 2, the app dual-writing: legacy holds every program as its latest
            // version, the phase-5 edits included (a difference here would be a lost edit).
            let backInTwo = try PhaseFiveFixtures.json(try await cli(["check", "--ignore-file", ignoreFile.path, "--format", "json"]))
            #expect(backInTwo["differenceCount"] as? Int == 0 && backInTwo["legacyBehind"] as? Int == 0,
                    "\((backInTwo["differences"] as? [Any])?.prefix(5) ?? [])")
            _ = try await cli(["flags", "set", "PROGRAM_VERSIONING_WRITES", "off", "--reason", "rollback"])
            try await appSees(false, false)
            try await traffic.waitForActivity()

            traffic.stop()
            await app.value
            following.cancel()
            await following.value
            try await inventory.provesNothingWasLost("after the rollback")
            // The program created in phase 5 is served from legacy in phase 1.
            let born = try await ProgramRepository(pool: db.pool, flags: FixedFlagSource(.legacy), logger: Logger(label: "app")).program(created.id)
            #expect(born.source == .legacy && born.program == created.program)
            #expect(traffic.unexpectedErrors.isEmpty, "\(traffic.unexpectedErrors.prefix(5))")
            #expect(traffic.saves > 0 && traffic.sessionsLogged > 0)
        }
    }
}

/// What the legacy tables held before the rollout began: every program, session and set
/// must still be there, sets unchanged, sessions unchanged but for the status the app moves;
/// and every version written so far, unchanged.
final class Inventory: Sendable {
    let db: TestDatabase.Fresh
    let programs: [UUID]
    let sessions: [UUID]
    let sets: [UUID]
    let digest: String
    private let versionsSeen = Mutex<(ids: [UUID], digest: String)>(([], "none"))

    init(_ db: TestDatabase.Fresh) async throws {
        self.db = db
        programs = try await db.pool.query("SELECT id FROM programs").map { try $0.decode(UUID.self, at: 0) }
        sessions = try await db.pool.query("SELECT id FROM workout_sessions").map { try $0.decode(UUID.self, at: 0) }
        sets = try await db.pool.query("SELECT id FROM logged_sets").map { try $0.decode(UUID.self, at: 0) }
        digest = try await Self.digest(db, sessions: sessions, sets: sets)
    }

    static func digest(_ db: TestDatabase.Fresh, sessions: [UUID], sets: [UUID]) async throws -> String {
        try await db.pool.query("""
            SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
              SELECT 's' || id || user_id || program_id || workout_id || started_at AS t FROM workout_sessions WHERE id = ANY(\(sessions))
              UNION ALL
              SELECT 'l' || id || session_id || user_id || exercise_id || set_index || reps || coalesce(weight_kg::text, '') || logged_at
                FROM logged_sets WHERE id = ANY(\(sets))) rows
            """).single().decode(String.self, at: 0)
    }

    /// Every version row (and its workouts, exercises and schedule entries) that exists now,
    /// as one digest over the ids known now, so a later call can tell if any was changed or lost.
    static func versionDigest(_ db: TestDatabase.Fresh, versions: [UUID]) async throws -> String {
        try await db.pool.query("""
            SELECT coalesce(md5(string_agg(t, '|' ORDER BY t)), 'none') FROM (
              SELECT 'v' || v::text AS t FROM program_versions v WHERE v.id = ANY(\(versions))
              UNION ALL SELECT 'w' || w::text FROM program_version_workouts w WHERE w.program_version_id = ANY(\(versions))
              UNION ALL SELECT 'e' || e::text FROM program_version_exercises e WHERE e.program_version_id = ANY(\(versions))
              UNION ALL SELECT 's' || s::text FROM program_version_schedule s WHERE s.program_version_id = ANY(\(versions))) rows
            """).single().decode(String.self, at: 0)
    }

    func provesNothingWasLost(_ phase: String) async throws {
        // Versions never change: every one seen at an earlier step is still there as it was.
        let (known, knownDigest) = versionsSeen.withLock { ($0.ids, $0.digest) }
        #expect(try await Self.versionDigest(db, versions: known) == knownDigest, "\(phase): a version was changed or lost")
        let now = try await db.pool.query("SELECT id FROM program_versions").map { try $0.decode(UUID.self, at: 0) }
        let nowDigest = try await Self.versionDigest(db, versions: now)
        versionsSeen.withLock { $0 = (now, nowDigest) }

        let (programsLeft, sessionsLeft, setsLeft) = try await db.pool.query("""
            SELECT (SELECT count(*) FROM programs WHERE id = ANY(\(programs))),
                   (SELECT count(*) FROM workout_sessions WHERE id = ANY(\(sessions))),
                   (SELECT count(*) FROM logged_sets WHERE id = ANY(\(sets)))
            """).single().decode((Int, Int, Int).self)
        #expect(programsLeft == programs.count, "\(phase): programs lost")
        #expect(sessionsLeft == sessions.count, "\(phase): sessions lost")
        #expect(setsLeft == sets.count, "\(phase): sets lost")
        #expect(try await Self.digest(db, sessions: sessions, sets: sets) == digest, "\(phase): a session or set changed")
    }
}

/// Three app workers reading, editing and training on random programs through the library
/// until stopped. Conflicts and refusals of invalid programs are the app's normal life;
/// anything else is recorded as unexpected.
final class AppTraffic: Sendable {
    private let repository: ProgramRepository
    private let sessions: WorkoutSessions
    private let programs: [UUID]
    private let state = Mutex<(stopped: Bool, saves: Int, sessions: Int, versionReads: Int, operations: Int, versionOnlySaves: Int, errors: [String])>(
        (false, 0, 0, 0, 0, 0, []))

    init(_ db: TestDatabase.Fresh, flags: any FlagSource, programs: [UUID]) {
        repository = ProgramRepository(pool: db.pool, flags: flags, logger: Logger(label: "app"))
        sessions = WorkoutSessions(pool: db.pool, logger: Logger(label: "app"))
        self.programs = programs
    }

    var saves: Int { state.withLock { $0.saves } }
    var sessionsLogged: Int { state.withLock { $0.sessions } }
    var versionReads: Int { state.withLock { $0.versionReads } }
    /// Saves that wrote a version and left legacy alone (phase 5).
    var versionOnlySaves: Int { state.withLock { $0.versionOnlySaves } }
    var unexpectedErrors: [String] { state.withLock { $0.errors } }
    func stop() { state.withLock { $0.stopped = true } }

    /// Returns once the workers did 30 more operations (bounded: 20 s).
    func waitForActivity() async throws {
        let start = state.withLock { $0.operations }
        _ = try await BackfillRobustnessTests.waitUntil(timeout: .seconds(20)) { state.withLock { $0.operations } >= start + 30 }
    }

    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<3 {
                group.addTask { await self.work(worker) }
            }
        }
    }

    private func work(_ worker: Int) async {
        var round = 0
        while !state.withLock({ $0.stopped }) {
            round += 1
            let id = programs[(worker * 7_919 + round * 131) % programs.count]
            do throws(RepositoryError) {
                let stored = try await repository.program(id)
                if stored.source == .versions { state.withLock { $0.versionReads += 1 } }
                var edited = stored.program
                if !edited.workouts.isEmpty, !edited.workouts[0].exercises.isEmpty {
                    edited.workouts[0].exercises[0].reps = 5 + round % 7
                }
                let saved = try await repository.save(edited, to: id, expectedRevision: stored.revision)
                state.withLock {
                    $0.saves += 1
                    if saved.createdVersion, !saved.wroteLegacy { $0.versionOnlySaves += 1 }
                }
                if round % 3 == 0, let workout = stored.program.workouts.first, let exercise = workout.exercises.first {
                    let session = try await sessions.start(userID: stored.userID, programID: id, workoutID: workout.id)
                    try await sessions.logSet(sessionID: session.id, exerciseID: exercise.id, setIndex: 0, reps: 8)
                    try await sessions.complete(sessionID: session.id)
                    state.withLock { $0.sessions += 1 }
                }
            } catch {
                switch error {
                case .conflict, .invalidProgram, .unreadableLegacy: break
                default: state.withLock { $0.errors.append("\(error)") }
                }
            }
            state.withLock { $0.operations += 1 }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}
