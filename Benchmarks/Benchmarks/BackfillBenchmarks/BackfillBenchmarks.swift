import Benchmark
import Foundation
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags

// `backfill programs` on 100k and 400k seeded programs (mean 4 workouts x 6 exercises), run
// as the operator runs it (the release CLI, PV_CLI), against its limits measured in the same
// run: PostgreSQL doing the same work set-based in one transaction (`SetBasedBackfill`, the
// goal's limit), one plain COPY of the very rows it writes into the same tables (text made
// beforehand), and the same COPY into bare tables without keys, indexes or triggers (what
// the schema's guarantees cost at all). Each run starts from a fresh copy of a seeded
// legacy database.
//
// As in phase 3 of a real rollout, the app has been dual-writing for a while: 20k other
// programs already have a version (and the tables have statistics). Into tables whose
// statistics say "empty", PostgreSQL caches sequential-scan plans for the foreign-key checks
// and a long COPY turns quadratic; that start is measured too ("tables empty at start"),
// for the backfill only, whose ANALYZE after its first batch avoids the trap.

let adminURL = ProcessInfo.processInfo.environment["PV_BENCH_DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:54329/postgres"
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

func databaseURL(_ name: String) -> String {
    guard var components = URLComponents(string: adminURL) else { return adminURL }
    components.path = "/" + name
    return components.string ?? adminURL
}

func cli() -> String {
    guard let cli = ProcessInfo.processInfo.environment["PV_CLI"] else {
        fatalError("PV_CLI must name the program-versioning binary (scripts/bench sets it)")
    }
    return cli
}

/// Names below are constants of this file, never data.
func admin(_ sql: String) async throws {
    let connection = try await PGConnection.connect(to: adminURL)
    defer { Task { await connection.close() } }
    try await connection.query(PGQuery(unsafeSQL: sql))
}

/// Programs that already have a version when the measured backfill starts.
let alreadyVersioned = 20_000

/// A seeded legacy database with WRITES on and, unless `empty`, `alreadyVersioned` programs
/// migrated, made once and kept: the seed is deterministic, so a later run reuses it when
/// its marker matches.
func legacyTemplate(programs: Int, empty: Bool = false) async throws -> String {
    let name = "pv_bench_backfill_legacy_\(programs)" + (empty ? "_empty" : "")
    let versioned = empty ? 0 : alreadyVersioned
    let marker = "pv bench: seed 7, \(programs) + \(versioned) versioned programs, 2-6 workouts x 4-8 exercises, 1 session each, v2"
    if try await kept(name, marker: marker) { return name }
    let pool = try await newMigratedDatabase(name, maxConnections: 2)
    _ = try await LegacySeeder(pool: pool).seed(.init(
        programs: programs + versioned, seed: 7, sessionsPerProgram: 1, workoutsPerProgram: 2...6, exercisesPerWorkout: 4...8))
    _ = try await FlagStore(pool: pool).set(.writes, enabled: true, actor: "bench", reason: "backfill benchmark", force: false)
    if versioned > 0 { _ = try await Backfill(pool: pool).run(.programs, options: .init(limit: versioned)) }
    try await pool.query("VACUUM ANALYZE")
    try await pool.query(PGQuery(unsafeSQL: "COMMENT ON TABLE programs IS '\(marker)'"))
    await pool.close()
    return name
}

/// Whether `name` was made by an earlier run with this `marker` (the table comment on
/// `programs`); if so, brought up to the current migrations.
func kept(_ name: String, marker: String) async throws -> Bool {
    guard let existing = try? await PGConnection.connect(to: databaseURL(name)) else { return false }
    let found = try? await existing.query("SELECT obj_description('programs'::regclass)").single().decode(String?.self, at: 0)
    await existing.close()
    guard found == marker else { return false }
    do {
        _ = try await migrated(name)
    } catch let error as MigrationError where error.code == .editedAfterApply {
        return false  // made with a migration file that has changed since: made again
    }
    return true
}

/// A new, migrated database `name` (dropped first if it exists) and a pool on it.
func newMigratedDatabase(_ name: String, maxConnections: Int) async throws -> PGPool {
    try await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    try await admin("CREATE DATABASE \(name)")
    let pool = PGPool(.init(connectionString: databaseURL(name), maxConnections: maxConnections))
    let migrations = try Migration.load(from: repositoryRoot.appendingPathComponent("migrations").path)
    _ = try await Migrator(migrations: migrations, pool: pool).up()
    return pool
}

/// Applies any migration newer than a kept database (its data stays valid across them).
func migrated(_ name: String) async throws -> String {
    let pool = PGPool(.init(connectionString: databaseURL(name), maxConnections: 1))
    let migrations = try Migration.load(from: repositoryRoot.appendingPathComponent("migrations").path)
    _ = try await Migrator(migrations: migrations, pool: pool).up()
    await pool.close()
    return name
}

/// A fresh copy of `template` named `name`; returns its URL.
func freshCopy(of template: String, as name: String) async throws -> String {
    try await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    try await admin("CREATE DATABASE \(name) TEMPLATE \(template)")
    return databaseURL(name)
}

/// Runs the CLI's `backfill programs --json [--workers N]` and checks it did what it says.
func backfill(_ url: String, expectMigrated: Int, workers: Int = 1) async throws -> MeasuredProcess {
    // As fast as the database allows: the throttle's waits are measured in GentleBackfillBenchmarks.
    let run = try await MeasuredProcess.run(cli(), [
        "backfill", "programs", "--json", "--batch-size", "1000", "--no-throttle", "--workers", "\(workers)", "--database-url", url,
    ])
    let json = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
    guard run.status == 0, let json, json["migrated"] as? Int == expectMigrated, json["reported"] as? Int == 0,
          json["seen"] as? Int == (json["migrated"] as? Int ?? -1) + (json["unchanged"] as? Int ?? -1)
    else {
        fatalError("backfill did not do what the benchmark expects: status \(run.status), \(run.stdout.prefix(300)) \(run.stderr.prefix(300))")
    }
    return run
}

let peakMemory = BenchmarkMetric.custom("Peak resident memory of the CLI process (KiB)", polarity: .prefersSmaller, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock], timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one,
        maxDuration: .seconds(3_600), maxIterations: 1)
    checkBenchmarks()
    legacyWriteBackBenchmarks()
    gentleBackfillBenchmarks()

    Benchmark("backfill: limit, plain COPY of the same version rows, 100k programs") { benchmark in
        let template = try await legacyTemplate(programs: 100_000)
        let rows = try await LimitRows.build(from: databaseURL(template))
        let connection = try await PGConnection.connect(to: try await freshCopy(of: template, as: "pv_bench_backfill_limit"))
        benchmark.startMeasurement()
        try await rows.copy(on: connection)
        benchmark.stopMeasurement()
        await connection.close()
    }

    Benchmark("backfill: limit, set-based SQL into schema v2 in one transaction, 100k programs") { benchmark in
        let url = try await freshCopy(of: try await legacyTemplate(programs: 100_000), as: "pv_bench_backfill_sql")
        let connection = try await PGConnection.connect(to: url)
        benchmark.startMeasurement()
        let written = try await SetBasedBackfill.run(on: connection)
        benchmark.stopMeasurement()
        await connection.close()
        guard written == 100_000 else { fatalError("the set-based backfill wrote \(written) versions, not 100000") }
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_sql WITH (FORCE)")
    }

    Benchmark("backfill: bare COPY of the same rows into tables without keys, 100k programs") { benchmark in
        let template = try await legacyTemplate(programs: 100_000)
        let rows = try await LimitRows.build(from: databaseURL(template))
        let connection = try await PGConnection.connect(to: try await freshCopy(of: template, as: "pv_bench_backfill_bare"))
        try await LimitRows.createBareTables(on: connection)
        benchmark.startMeasurement()
        try await rows.copy(on: connection, intoTablesPrefixed: "bare_")
        benchmark.stopMeasurement()
        await connection.close()
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_bare WITH (FORCE)")
    }

    Benchmark("backfill: programs, 100k programs", configuration: .init(metrics: [.wallClock, peakMemory])) { benchmark in
        let url = try await freshCopy(of: try await legacyTemplate(programs: 100_000), as: "pv_bench_backfill_100k")
        benchmark.startMeasurement()
        let run = try await backfill(url, expectMigrated: 100_000)
        benchmark.stopMeasurement()
        benchmark.measurement(peakMemory, run.peakResidentKiB)
    }

    // Reported beside the one-worker run: how far two ranges at once go on this machine's
    // two cores, where the database's own work (COPY, index and check maintenance, WAL)
    // shares them with the CLI.
    Benchmark("backfill: programs with --workers 2, 100k programs", configuration: .init(metrics: [.wallClock, peakMemory])) { benchmark in
        let url = try await freshCopy(of: try await legacyTemplate(programs: 100_000), as: "pv_bench_backfill_workers")
        benchmark.startMeasurement()
        let run = try await backfill(url, expectMigrated: 100_000, workers: 2)
        benchmark.stopMeasurement()
        benchmark.measurement(peakMemory, run.peakResidentKiB)
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_workers WITH (FORCE)")
    }

    Benchmark("backfill: programs re-run over unchanged data, 100k programs") { benchmark in
        // The database the first run migrated; migrated here, unmeasured, if that benchmark was filtered out.
        let url = databaseURL("pv_bench_backfill_100k")
        let connection = try? await PGConnection.connect(to: url)
        let versions = try? await connection?.query("SELECT count(*) FROM program_versions").single().decode(Int.self, at: 0)
        await connection?.close()
        if versions != 100_000 {
            _ = try await backfill(try await freshCopy(of: try await legacyTemplate(programs: 100_000), as: "pv_bench_backfill_100k"), expectMigrated: 100_000)
        }
        benchmark.startMeasurement()
        _ = try await backfill(url, expectMigrated: 0)
        benchmark.stopMeasurement()
    }

    Benchmark("backfill: programs, 400k programs", configuration: .init(metrics: [.wallClock, peakMemory])) { benchmark in
        let url = try await freshCopy(of: try await legacyTemplate(programs: 400_000), as: "pv_bench_backfill_400k")
        benchmark.startMeasurement()
        let run = try await backfill(url, expectMigrated: 400_000)
        benchmark.stopMeasurement()
        benchmark.measurement(peakMemory, run.peakResidentKiB)
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_400k WITH (FORCE)")
    }

    Benchmark("backfill: programs, 100k programs, versioned tables empty at start") { benchmark in
        let url = try await freshCopy(of: try await legacyTemplate(programs: 100_000, empty: true), as: "pv_bench_backfill_empty")
        benchmark.startMeasurement()
        _ = try await backfill(url, expectMigrated: 100_000)
        benchmark.stopMeasurement()
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_empty WITH (FORCE)")
    }
}
