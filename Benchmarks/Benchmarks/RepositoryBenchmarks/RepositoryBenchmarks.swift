import Benchmark
import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags

/// A 6-workout x 8-exercise program; `variant` changes every reps value, so alternating
/// variants makes every save a real change (a new version each time).
func sixByEight(variant: Int) -> Program {
    let names = ["Bench Press", "Barbell Row", "Back Squat", "Romanian Deadlift", "Overhead Press", "Pull-up", "Walking Lunge", "Biceps Curl"]
    let workouts = (0..<6).map { w in
        Workout(id: "w-\(w)", name: "Workout \(w)", exercises: (0..<8).map { e in
            Exercise(
                id: "e-\(w)-\(e)", name: names[e], sets: 3 + e % 3, reps: 5 + e + variant, restSeconds: 60 + 30 * (e % 4),
                weightKg: e % 3 == 2 ? nil : JSONNumber("\(40 + w * 5 + e).5"),
                unknownKeys: e == 0 ? ["coachNote": .string("Tempo 3-1-1 · form ✓")] : [:])
        })
    }
    return Program(
        name: "Six-day split", workouts: workouts,
        schedule: (0..<6).map { ScheduleEntry(dayIndex: $0, workoutID: "w-\($0)") }, unknownKeys: ["appVersion": .string("4.2.0")])
}

/// A migrated database of its own, set up once per run, outside every measurement.
final class Setup: @unchecked Sendable {
    // @unchecked: the runner runs one benchmark at a time, so this is never shared concurrently.
    let adminURL = ProcessInfo.processInfo.environment["PV_BENCH_DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:54329/postgres"
    /// The database's name (a constant of this file, never data).
    let database: String
    /// Phase 5: the database's flags say LEGACY_READONLY, so saves write versions only.
    let phaseFive: Bool
    private var readyPool: PGPool?

    init(database: String, phaseFive: Bool = false) {
        self.database = database
        self.phaseFive = phaseFive
    }

    var url: String {
        // Same server, database `database`.
        guard var components = URLComponents(string: adminURL) else { return adminURL }
        components.path = "/" + database
        return components.string ?? adminURL
    }

    func pool() async throws -> PGPool {
        if let readyPool { return readyPool }
        let admin = try await PGConnection.connect(to: adminURL)
        _ = try? await admin.query(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"))
        try await admin.query(PGQuery(unsafeSQL: "CREATE DATABASE \(database)"))
        await admin.close()
        let pool = PGPool(.init(connectionString: url, maxConnections: 8))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let migrations = try Migration.load(from: root.appendingPathComponent("migrations").path)
        _ = try await Migrator(migrations: migrations, pool: pool).up()
        if phaseFive {
            // The rules' evidence (clean checks) does not matter to a benchmark: forced, with a reason.
            let store = FlagStore(pool: pool)
            try await store.set(.writes, enabled: true, actor: "bench", reason: "phase 5 benchmark", force: false)
            try await store.set(.reads, enabled: true, percent: 100, actor: "bench", reason: "phase 5 benchmark", force: true)
            try await store.set(.legacyReadOnly, enabled: true, actor: "bench", reason: "phase 5 benchmark", force: true)
        }
        readyPool = pool
        return pool
    }

    /// One repository per flag state for the whole run, as an app keeps one (its version
    /// cache stays warm across the runner's calls).
    private var repositories: [FlagSnapshot: ProgramRepository] = [:]

    func repository(_ flags: FlagSnapshot) async throws -> ProgramRepository {
        if let existing = repositories[flags] { return existing }
        let repository = ProgramRepository(pool: try await pool(), flags: FixedFlagSource(flags), logger: Logger(label: "bench"))
        repositories[flags] = repository
        return repository
    }

    /// State a benchmark keeps across the runner's calls of its closure (which may come
    /// once per iteration): programs created once, their latest revision, version counters.
    var programs: [String: [StoredProgram]] = [:]
    var counters: [String: Int] = [:]

    func programs(_ key: String, count: Int = 1, flags: FlagSnapshot) async throws -> [StoredProgram] {
        if let existing = programs[key] { return existing }
        let repository = try await repository(flags)
        var created: [StoredProgram] = []
        for _ in 0..<count { created.append(try await repository.create(sixByEight(variant: 0), for: UUID())) }
        programs[key] = created
        return created
    }
}

let setup = Setup(database: "pv_bench_repository")
let phaseFiveSetup = Setup(database: "pv_bench_repository_phase5", phaseFive: true)
let writesOn = FlagSnapshot(writes: true, reads: false, readPercent: 0)
let phaseFive = FlagSnapshot(writes: true, reads: true, readPercent: 100, legacyReadOnly: true)
let bothOn = FlagSnapshot(writes: true, reads: true, readPercent: 100)
let off = FlagSnapshot.legacy

/// The lean floor of a dual-write save (issue 20): the least any client does to save the
/// same rows with the same guarantees on this schema. One read of the program's revision
/// and latest version, then one statement, committing on its own, that rewrites the legacy
/// JSON only if the revision still holds and inserts the next version's rows (ids made by
/// the client, the schema's own checks firing as for a save). No lock, phase lock, flag
/// read, reconcile or validate; both statements prepared on the connection and their
/// values made before the clock starts. Nothing cheaper keeps the guarantees: without the
/// read the client cannot know the revision, and without the revision test a concurrent
/// edit would be lost.
struct LeanFloorSave: Sendable {
    let programID: UUID
    let json: PGJSONB, name: String, programExtra: String, checksum: String
    let workoutIDs: [String], workoutNames: [String], workoutExtras: [String]
    let exerciseWorkoutPositions: [Int], exerciseIDs: [String], exerciseNames: [String]
    let sets: [Int], reps: [Int], rests: [Int], weights: [String?], positions: [Int], exerciseExtras: [String]
    let days: [Int], scheduleWorkouts: [String], scheduleExtras: [String]

    init(programID: UUID, program: Program) {
        self.programID = programID
        json = PGJSONB(program.legacyJSONText)
        name = program.name
        programExtra = JSONValue.object(program.unknownKeys).jsonText
        checksum = program.canonicalChecksum
        workoutIDs = program.workouts.map(\.id)
        workoutNames = program.workouts.map(\.name)
        workoutExtras = program.workouts.map { JSONValue.object($0.unknownKeys).jsonText }
        let exercises = program.workouts.enumerated().flatMap { w, workout in workout.exercises.enumerated().map { (w, $0, $1) } }
        exerciseWorkoutPositions = exercises.map(\.0)
        positions = exercises.map(\.1)
        exerciseIDs = exercises.map(\.2.id)
        exerciseNames = exercises.map(\.2.name)
        sets = exercises.map(\.2.sets)
        reps = exercises.map(\.2.reps)
        rests = exercises.map(\.2.restSeconds)
        weights = exercises.map { $0.2.weightKg?.canonical }
        exerciseExtras = exercises.map { JSONValue.object($0.2.unknownKeys).jsonText }
        days = program.schedule.map(\.dayIndex)
        scheduleWorkouts = program.schedule.map { entry -> String in if case .id(let id) = entry.workout { return id } else { return "" } }
        scheduleExtras = program.schedule.map { JSONValue.object($0.unknownKeys).jsonText }
    }

    /// Read, then write if the revision holds; false when it did not (nothing written).
    func run(on connection: PGConnection) async throws -> Bool {
        let head: PGQuery = """
            SELECT p.xmin::text, coalesce(v.version, 0) FROM programs p
              LEFT JOIN LATERAL (SELECT version FROM program_versions WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
             WHERE p.id = \(programID)
            """
        let (revision, latest) = try await connection.query(head.prepared(as: "bench_lean_head")).single().decode((String, Int32).self)
        let versionID = TimeOrderedID.make()
        let workoutRows = workoutIDs.map { _ in TimeOrderedID.make() }
        let exerciseRows = exerciseIDs.map { _ in TimeOrderedID.make() }
        let exerciseWorkoutRows = exerciseWorkoutPositions.map { workoutRows[$0] }
        let write: PGQuery = """
            WITH legacy AS (
              UPDATE programs SET program_json = \(json), updated_at = now()
               WHERE id = \(programID) AND xmin::text = \(revision)
              RETURNING xmin::text AS revision
            ), version AS (
              INSERT INTO program_versions (id, program_id, version, name, extra, source_checksum, content_checksum, created_by, legacy_xmin)
              SELECT \(versionID), \(programID), \(Int(latest) + 1), \(name), \(programExtra)::jsonb, \(checksum), \(checksum), 'save',
                     legacy.revision
                FROM legacy
              RETURNING id
            ), workouts AS (
              INSERT INTO program_version_workouts (id, program_id, program_version_id, workout_id, name, position, extra)
              SELECT w.row_id, \(programID), version.id, w.id, w.name, w.o - 1, w.extra::jsonb
                FROM version, unnest(\(workoutRows)::uuid[], \(workoutIDs)::text[], \(workoutNames)::text[], \(workoutExtras)::text[])
                       WITH ORDINALITY AS w(row_id, id, name, extra, o)
              RETURNING 1
            ), exercises AS (
              INSERT INTO program_version_exercises
                (id, program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, weight_kg, position, extra)
              SELECT e.row_id, \(programID), version.id, e.workout_row, e.id, e.name, e.sets, e.reps, e.rest, e.weight::numeric, e.position,
                     e.extra::jsonb
                FROM version, unnest(\(exerciseRows)::uuid[], \(exerciseWorkoutRows)::uuid[], \(exerciseIDs)::text[], \(exerciseNames)::text[],
                                     \(sets)::int8[], \(reps)::int8[], \(rests)::int8[], \(weights)::text[], \(positions)::int8[],
                                     \(exerciseExtras)::text[])
                       AS e(row_id, workout_row, id, name, sets, reps, rest, weight, position, extra)
              RETURNING 1
            ), schedule AS (
              INSERT INTO program_version_schedule (program_id, program_version_id, position, day_index, workout_id, extra)
              SELECT \(programID), version.id, s.o - 1, s.day, s.workout, s.extra::jsonb
                FROM version, unnest(\(days)::int8[], \(scheduleWorkouts)::text[], \(scheduleExtras)::text[])
                       WITH ORDINALITY AS s(day, workout, extra, o)
              RETURNING 1
            )
            SELECT count(*) FROM version
            """
        return try await connection.query(write.prepared(as: "bench_lean_write")).single().decode(Int.self, at: 0) == 1
    }
}

/// A legacy-only save as an app without this library makes it: BEGIN, UPDATE of the JSON, COMMIT.
func legacyOnlyFloorSave(_ connection: PGConnection, programID: UUID, json: PGJSONB) async throws {
    try await connection.transaction { connection in
        let update: PGQuery = "UPDATE programs SET program_json = \(json), updated_at = now() WHERE id = \(programID)"
        try await connection.query(update.prepared(as: "bench_legacy_update"))
    }
}

/// Saves of one program through the repository, alternating two contents so each save is
/// a real change; the program and its revision carry over between the runner's calls.
func alternatingSaves(_ benchmark: Benchmark, key: String, flags: FlagSnapshot, in setup: Setup = setup) async throws {
    let repository = try await setup.repository(flags)
    var stored = try await setup.programs(key, flags: flags)[0]
    var count = setup.counters[key, default: 0]
    let variants = [sixByEight(variant: 1), sixByEight(variant: 0)]
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations {
        count += 1
        stored = try await repository.save(variants[count % 2], to: stored.id, expectedRevision: stored.revision).stored
    }
    benchmark.stopMeasurement()
    setup.programs[key] = [stored]
    setup.counters[key] = count
}

let benchmarks: @Sendable () -> Void = {
    flagBenchmarks()
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        timeUnits: .microseconds,
        warmupIterations: 20,
        scalingFactor: .one,
        maxDuration: .seconds(5),
        maxIterations: 2_000)

    Benchmark("save: lean floor (read + one revision-checked write of the same rows)") { benchmark in
        let pool = try await setup.pool()
        let created = try await setup.programs("lean floor", flags: writesOn)[0]
        let saves = [LeanFloorSave(programID: created.id, program: sixByEight(variant: 1)), LeanFloorSave(programID: created.id, program: sixByEight(variant: 0))]
        try await pool.withConnection { connection in
            var count = setup.counters["lean floor", default: 0]
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                count += 1
                guard try await saves[count % 2].run(on: connection) else { fatalError("the lean floor's revision did not hold") }
            }
            benchmark.stopMeasurement()
            setup.counters["lean floor"] = count
        }
    }

    Benchmark("save: legacy floor (BEGIN, UPDATE of the same JSON, COMMIT)") { benchmark in
        let pool = try await setup.pool()
        let created = try await setup.programs("legacy floor", flags: off)[0]
        let texts = [PGJSONB(sixByEight(variant: 1).legacyJSONText), PGJSONB(sixByEight(variant: 0).legacyJSONText)]
        try await pool.withConnection { connection in
            var count = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                count += 1
                try await legacyOnlyFloorSave(connection, programID: created.id, json: texts[count % 2])
            }
            benchmark.stopMeasurement()
        }
    }

    Benchmark("save: dual write (repository, WRITES on)") { benchmark in
        try await alternatingSaves(benchmark, key: "dual write", flags: writesOn)
    }

    Benchmark("save: phase 5, versions only (repository, LEGACY_READONLY on)") { benchmark in
        try await alternatingSaves(benchmark, key: "phase 5", flags: phaseFive, in: phaseFiveSetup)
    }

    Benchmark("save: legacy only (repository, WRITES off)") { benchmark in
        try await alternatingSaves(benchmark, key: "legacy only", flags: off)
    }

    Benchmark("read: legacy (repository)") { benchmark in
        let repository = try await setup.repository(writesOn)
        let created = try await setup.programs("read", flags: writesOn)[0]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try await repository.program(created.id)) }
    }

    Benchmark("read: versioned (repository, READS on)") { benchmark in
        let repository = try await setup.repository(bothOn)
        let created = try await setup.programs("read", flags: writesOn)[0]
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try await repository.program(created.id)) }
    }

    Benchmark("saves with 8 concurrent clients (dual write)", configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .one, maxIterations: 50)) { benchmark in
        let repository = try await setup.repository(writesOn)
        let programs = try await setup.programs("concurrent", count: 8, flags: writesOn)
        let variants = [sixByEight(variant: 1), sixByEight(variant: 0)]
        let start = programs
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            // One iteration = 8 clients x 10 saves each, on their own programs.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        var stored = try await repository.program(start[client].id)
                        for save in 0..<10 {
                            stored = try await repository.save(variants[save % 2], to: stored.id, expectedRevision: stored.revision).stored
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
