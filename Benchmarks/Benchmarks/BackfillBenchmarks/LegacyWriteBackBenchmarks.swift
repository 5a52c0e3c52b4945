import Benchmark
import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization

// `backfill legacy` (phase 5's way back) on 100k programs whose latest version the legacy
// JSON does not hold, run as the operator runs it (the release CLI), against its limit
// measured in the same run: one plain `UPDATE programs ... FROM` a table holding exactly the
// JSON texts the write-back writes (taken from an unmeasured run on another copy), on the
// same table with the same triggers, the library's legacy-writer mark set as the write-back
// sets it. A stricter limit runs two such UPDATEs at once over the two halves of the key
// space, since the write-back uses two connections (one prepares the next page while the
// other writes).

/// A database in phase 5 made once and kept: 100k seeded programs of the backfill
/// benchmark's shape, backfilled, the flags forced to phase 5, and every program saved once
/// more through the library (so each has a version its legacy JSON does not hold).
func phaseFiveTemplate(programs: Int) async throws -> String {
    let name = "pv_bench_phase5_\(programs)"
    let marker = "pv bench: seed 7, \(programs) programs, 2-6 workouts x 4-8 exercises, each saved once in phase 5, v1"
    if try await kept(name, marker: marker) { return name }
    let pool = try await newMigratedDatabase(name, maxConnections: 8)
    _ = try await LegacySeeder(pool: pool).seed(.init(
        programs: programs, seed: 7, sessionsPerProgram: 0, workoutsPerProgram: 2...6, exercisesPerWorkout: 4...8))
    let store = FlagStore(pool: pool)
    try await store.set(.writes, enabled: true, actor: "bench", reason: "phase 5 benchmark", force: false)
    _ = try await Backfill(pool: pool).run(.programs, options: .init())
    try await store.set(.reads, enabled: true, percent: 100, actor: "bench", reason: "phase 5 benchmark", force: true)
    try await store.set(.legacyReadOnly, enabled: true, actor: "bench", reason: "phase 5 benchmark", force: true)
    let ids = try await pool.query("SELECT id FROM programs ORDER BY id").map { try $0.decode(UUID.self, at: 0) }
    let phaseFive = FlagSnapshot(writes: true, reads: true, readPercent: 100, legacyReadOnly: true)
    let repository = ProgramRepository(pool: pool, flags: FixedFlagSource(phaseFive), logger: Logger(label: "bench"), versionCacheCapacity: 0)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<8 {
            group.addTask {
                for index in stride(from: worker, to: ids.count, by: 8) {
                    let stored = try await repository.program(ids[index])
                    var edited = stored.program
                    edited.name = String(edited.name.prefix(180)) + " (phase 5)"
                    edited.workouts[0].exercises[0].reps = edited.workouts[0].exercises[0].reps % 20 + 1
                    _ = try await repository.save(edited, to: ids[index], expectedRevision: stored.revision)
                }
            }
        }
        try await group.waitForAll()
    }
    try await pool.query("VACUUM ANALYZE")
    try await pool.query(PGQuery(unsafeSQL: "COMMENT ON TABLE programs IS '\(marker)'"))
    await pool.close()
    return name
}

/// Runs the CLI's `backfill legacy --json` and checks it did what it says.
func writeBack(_ url: String, expectWritten: Int) async throws -> MeasuredProcess {
    let run = try await MeasuredProcess.run(cli(), ["backfill", "legacy", "--json", "--batch-size", "1000", "--no-throttle", "--database-url", url])
    let json = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
    guard run.status == 0, let json, json["written"] as? Int == expectWritten, json["reported"] as? Int == 0,
          json["seen"] as? Int == (json["written"] as? Int ?? -1) + (json["unchanged"] as? Int ?? -1)
    else {
        fatalError("backfill legacy did not do what the benchmark expects: status \(run.status), \(run.stdout.prefix(300)) \(run.stderr.prefix(300))")
    }
    return run
}

/// A copy of the template with the texts the write-back writes in an unlogged table
/// `legacy_texts (id, json)`, analyzed, so the limit's clock covers only its UPDATE.
func limitCopy(of template: String, texts: URL, as name: String) async throws -> PGConnection {
    let url = try await freshCopy(of: template, as: name)
    let connection = try await PGConnection.connect(to: url)
    try await connection.query("CREATE UNLOGGED TABLE legacy_texts (id uuid PRIMARY KEY, json text NOT NULL)")
    let handle = try FileHandle(forReadingFrom: texts)
    try await connection.copyFrom("COPY legacy_texts (id, json) FROM STDIN") { writer in
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            try await writer.write(encodedRows: chunk)
        }
    }
    try handle.close()
    try await connection.query("VACUUM ANALYZE legacy_texts")
    try await connection.query("VACUUM ANALYZE programs")
    // Every side starts with no dirty buffers of the set-up: a checkpoint during a measured
    // run would be the set-up's cost.
    try await connection.query("CHECKPOINT")
    return connection
}

/// The statement the limit times: the JSON texts into programs, as plain as it gets (no JIT,
/// the read-only trigger skipped by the mark the write-back sets too).
func limitUpdate(_ connection: PGConnection, half: Int?) async throws {
    try await connection.transaction { connection in
        try await connection.query("SELECT set_config('program_versioning.legacy_writer', 'on', true), set_config('jit', 'off', true)")
        let middle = UUID(uuid: (0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        try await connection.query("""
            UPDATE programs p SET program_json = t.json::jsonb, updated_at = now()
              FROM legacy_texts t
             WHERE p.id = t.id AND (\(half)::int IS NULL OR (\(half) = 0) = (t.id < \(middle)))
            """)
    }
}

/// A file COPY data goes to, from the connection's thread. (The texts stay out of this
/// process's memory: a child's peak RSS as `wait4` reports it includes the parent's, since
/// posix_spawn shares the parent's memory until the child execs.)
final class CopyFile: Sendable {
    private let handle: Mutex<FileHandle>

    init(_ url: URL) throws {
        FileManager.default.createFile(atPath: url.path, contents: nil)
        handle = Mutex(try FileHandle(forWritingTo: url))
    }

    @Sendable func write(_ chunk: [UInt8]) throws {
        try handle.withLock { try $0.write(contentsOf: chunk) }
    }

    func close() throws {
        try handle.withLock { try $0.close() }
    }
}

func legacyWriteBackBenchmarks() {
    // Made on first use, so other benchmarks (run with a filter, or before these) never
    // share the machine with this preparation.
    let template = StartedOnFirstUse { try await phaseFiveTemplate(programs: 100_000) }
    /// The texts, from an unmeasured run on a copy of its own (also the runs' warm-up).
    let texts = StartedOnFirstUse<URL> {
        let url = try await freshCopy(of: try await template.value, as: "pv_bench_phase5_texts")
        _ = try await writeBack(url, expectWritten: 100_000)
        let connection = try await PGConnection.connect(to: url)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pv-bench-legacy-texts.copy")
        let sink = try CopyFile(file)
        _ = try await connection.copyTo("COPY (SELECT id, program_json::text FROM programs) TO STDOUT", sink.write)
        try sink.close()
        await connection.close()
        try await admin("DROP DATABASE IF EXISTS pv_bench_phase5_texts WITH (FORCE)")
        return file
    }

    Benchmark("backfill: legacy limit, one plain UPDATE of the same JSON texts, 100k programs") { benchmark in
        let connection = try await limitCopy(of: try await template.value, texts: try await texts.value, as: "pv_bench_phase5_limit")
        benchmark.startMeasurement()
        try await limitUpdate(connection, half: nil)
        benchmark.stopMeasurement()
        await connection.close()
    }

    Benchmark("backfill: legacy limit, two plain UPDATEs at once over halves, 100k programs") { benchmark in
        let first = try await limitCopy(of: try await template.value, texts: try await texts.value, as: "pv_bench_phase5_limit")
        let second = try await PGConnection.connect(to: databaseURL("pv_bench_phase5_limit"))
        benchmark.startMeasurement()
        async let one: Void = limitUpdate(first, half: 0)
        async let other: Void = limitUpdate(second, half: 1)
        _ = try await (one, other)
        benchmark.stopMeasurement()
        await first.close()
        await second.close()
    }

    Benchmark("backfill: legacy, 100k programs", configuration: .init(metrics: [.wallClock, peakMemory])) { benchmark in
        _ = try await texts.value  // the warm-up run first, never during this one
        let url = try await freshCopy(of: try await template.value, as: "pv_bench_phase5_run")
        let connection = try await PGConnection.connect(to: url)
        try await connection.query("VACUUM ANALYZE programs")
        try await connection.query("CHECKPOINT")
        await connection.close()
        benchmark.startMeasurement()
        let run = try await writeBack(url, expectWritten: 100_000)
        benchmark.stopMeasurement()
        benchmark.measurement(peakMemory, run.peakResidentKiB)
        try await admin("DROP DATABASE IF EXISTS pv_bench_phase5_run WITH (FORCE)")
        try await admin("DROP DATABASE IF EXISTS pv_bench_phase5_limit WITH (FORCE)")
    }
}
