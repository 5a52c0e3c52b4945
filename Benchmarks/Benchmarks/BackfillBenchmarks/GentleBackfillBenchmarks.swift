import Benchmark
import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization

// Issue 17: what a backfill costs the app, on the 100k-program legacy database (120k
// programs, 20k already versioned, WRITES on), all in one benchmark run:
//
//   1. the app alone: 8 clients doing dual-write saves (read, edit, save) for 20 s;
//   2. the same saves while `backfill programs` runs with the CLI's default throttle;
//   3. the same saves while the backfill runs with no throttle (`--no-throttle --batch-size
//      1000`, the way the backfill benchmark runs it), on another fresh copy;
//   4. that unthrottled backfill alone, on a third copy.
//
// Goals: save p99 during the backfill <= 1.5x the p99 alone, and the throttled backfill
// <= 2x the unthrottled one. The limit for the saves is the same saves on the same database
// with nothing else running: nothing cheaper carries the same guarantees. The backfill's
// limit is the unthrottled run under the same app load (what the throttle costs) and, as a
// second figure, alone (what the app's load and the throttle cost together: on 2 cores the
// 8 clients take most of the CPU, which no throttle can give back).
// Then, on the database the throttled run migrated: `check` twice (the first after a
// backfill <= 1.5x the second), and a check killed at 90 % and run again (<= 15 % of a full
// run).

/// Latencies of individual saves, gathered from the clients.
final class SaveLatencies: Sendable {
    private let samples = Mutex<[Duration]>([])

    func add(_ duration: Duration) { samples.withLock { $0.append(duration) } }

    var count: Int { samples.withLock { $0.count } }

    /// The `fraction` percentile, in microseconds.
    func percentile(_ fraction: Double) -> Int {
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
        let value = sorted[max(0, index)]
        return Int(value.components.seconds * 1_000_000 + value.components.attoseconds / 1_000_000_000_000)
    }
}

final class StopFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// 8 app clients saving edits of random programs (dual write) until `stop` or `duration`.
func appSaves(url: String, programIDs: [UUID], latencies: SaveLatencies, stop: StopFlag, duration: Duration?) async throws {
    let pool = PGPool(.init(connectionString: url, maxConnections: 8))
    let flags = FlagSnapshot(writes: true, reads: false, readPercent: 0, legacyReadOnly: false)
    let repository = ProgramRepository(pool: pool, flags: FixedFlagSource(flags), logger: Logger(label: "bench"))
    let deadline = duration.map { ContinuousClock.now + $0 }
    try await withThrowingTaskGroup(of: Void.self) { group in
        for client in 0..<8 {
            group.addTask {
                var random = SystemRandomNumberGenerator()
                var round = 0
                while !stop.isSet, deadline.map({ ContinuousClock.now < $0 }) ?? true {
                    round += 1
                    let id = programIDs[Int.random(in: 0..<programIDs.count, using: &random)]
                    guard let stored = try? await repository.program(id), !stored.program.workouts.isEmpty else { continue }
                    var edited = stored.program
                    edited.name = "Edited by client \(client) round \(round)"
                    let started = ContinuousClock.now
                    // A conflict with another client is a real outcome of a save: timed all the same.
                    _ = try? await repository.save(edited, to: id, expectedRevision: stored.revision)
                    latencies.add(started.duration(to: .now))
                }
            }
        }
        try await group.waitForAll()
    }
    await pool.close()
}

/// Runs `backfill programs` with `arguments` on `url` and times it; with `ids`, 8 app
/// clients save edits of those programs the whole time and their latencies come back.
func timedBackfill(_ url: String, _ arguments: [String], savingTo ids: [UUID]?) async throws -> (Duration, SaveLatencies) {
    let latencies = SaveLatencies()
    let stop = StopFlag()
    let saves = Task {
        if let ids { try await appSaves(url: url, programIDs: ids, latencies: latencies, stop: stop, duration: nil) }
    }
    let started = ContinuousClock.now
    let run = try await MeasuredProcess.run(cli(), ["backfill", "programs", "--json"] + arguments + ["--database-url", url])
    let took = started.duration(to: .now)
    stop.set()
    try await saves.value
    guard run.status == 0, run.stdout.contains("\"status\" : \"SUCCEEDED\"") else {
        fatalError("backfill programs \(arguments) failed: \(run.stdout.prefix(300)) \(run.stderr.prefix(300))")
    }
    return (took, latencies)
}

func milliseconds(_ duration: Duration) -> Int {
    Int(duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000)
}

let saveP99Alone = BenchmarkMetric.custom("Save p99 alone (us)", polarity: .prefersSmaller, useScalingFactor: false)
let saveP99During = BenchmarkMetric.custom("Save p99 during backfill (us)", polarity: .prefersSmaller, useScalingFactor: false)
let saveP50Alone = BenchmarkMetric.custom("Save p50 alone (us)", polarity: .prefersSmaller, useScalingFactor: false)
let saveP50During = BenchmarkMetric.custom("Save p50 during backfill (us)", polarity: .prefersSmaller, useScalingFactor: false)
let backfillThrottled = BenchmarkMetric.custom("Backfill with default throttle under load (ms)", polarity: .prefersSmaller, useScalingFactor: false)
let backfillUnthrottled = BenchmarkMetric.custom("Backfill unthrottled alone (ms)", polarity: .prefersSmaller, useScalingFactor: false)
let backfillUnthrottledUnderLoad = BenchmarkMetric.custom(
    "Backfill unthrottled under load (ms)", polarity: .prefersSmaller, useScalingFactor: false)
let saveP99DuringUnthrottled = BenchmarkMetric.custom(
    "Save p99 during unthrottled backfill (us)", polarity: .prefersSmaller, useScalingFactor: false)
let firstCheck = BenchmarkMetric.custom("First check after backfill (ms)", polarity: .prefersSmaller, useScalingFactor: false)
let secondCheck = BenchmarkMetric.custom("Second check (ms)", polarity: .prefersSmaller, useScalingFactor: false)
let resumedCheck = BenchmarkMetric.custom("Check resumed after a kill at 90% (ms)", polarity: .prefersSmaller, useScalingFactor: false)

/// Runs `check` and returns how long it took (differences or not).
func timedCheck(_ url: String) async throws -> Duration {
    let started = ContinuousClock.now
    let run = try await MeasuredProcess.run(cli(), ["check", "--format", "json", "--output", "/dev/null", "--database-url", url])
    guard run.status == 0 || run.status == 1 else { fatalError("check failed: \(run.stderr.prefix(300))") }
    return started.duration(to: .now)
}

/// Starts `check`, kills it (SIGKILL) once it is 90 % done, and returns
/// how long the next `check` takes to finish the run.
func checkResumedAfterKillAt90(_ url: String) async throws -> Duration {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: cli())
    process.arguments = ["check", "--format", "json", "--output", "/dev/null", "--database-url", url]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let connection = try await PGConnection.connect(to: url)
    // As the check's progress line counts it: each part (programs, sessions) at least 90 % done.
    let (programs, sessions) = try await connection.query("""
        SELECT (SELECT count(*) FROM programs), (SELECT count(*) FROM workout_sessions)
        """).single().decode((Int, Int).self)
    while process.isRunning {
        let checked = try await connection.query(
            "SELECT programs_checked, sessions_checked FROM check_progress ORDER BY started_at DESC LIMIT 1"
        ).map { try $0.decode((Int, Int).self) }.first ?? (0, 0)
        let done = min(programs > 0 ? Double(checked.0) / Double(programs) : 1, sessions > 0 ? Double(checked.1) / Double(sessions) : 1)
        if done >= 0.9 { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    guard process.isRunning else { fatalError("the check finished before it could be killed at 90 %") }
    kill(process.processIdentifier, SIGKILL)
    while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    // The killed backend lets go once it notices; the progress row is taken over at once
    // (a RUNNING row is taken over when its heartbeat is a minute old: age it, as a minute passing would).
    try await connection.query("UPDATE check_progress SET heartbeat_at = now() - interval '2 minutes'")
    await connection.close()
    return try await timedCheck(url)
}

func gentleBackfillBenchmarks() {
    Benchmark(
        "backfill under app load: saves (8 clients) alone and during backfill programs with the default throttle, 100k programs",
        configuration: .init(metrics: [
            .wallClock, saveP99Alone, saveP99During, saveP50Alone, saveP50During, backfillThrottled, backfillUnthrottled,
            backfillUnthrottledUnderLoad, saveP99DuringUnthrottled, firstCheck, secondCheck, resumedCheck,
        ])
    ) { benchmark in
        let template = try await legacyTemplate(programs: 100_000)
        let url = try await freshCopy(of: template, as: "pv_bench_backfill_under_load")
        let ids = try await {
            let connection = try await PGConnection.connect(to: url)
            defer { Task { await connection.close() } }
            return try await connection.query("SELECT id FROM programs").map { try $0.decode(UUID.self, at: 0) }
        }()
        benchmark.startMeasurement()

        // 1. The app alone.
        let alone = SaveLatencies()
        try await appSaves(url: url, programIDs: ids, latencies: alone, stop: StopFlag(), duration: .seconds(20))

        // 2. The same saves while the backfill runs with the default throttle.
        let (throttledTime, during) = try await timedBackfill(url, [], savingTo: ids)

        // Checks on what it migrated: the first after the backfill, the second, one resumed at 90 %.
        let first = try await timedCheck(url)
        let second = try await timedCheck(url)
        let resumed = try await checkResumedAfterKillAt90(url)

        // 3. The same saves while the backfill runs unthrottled, on a fresh copy.
        let unthrottled = ["--no-throttle", "--batch-size", "1000"]
        let copy3 = try await freshCopy(of: template, as: "pv_bench_backfill_unthrottled_load")
        let (unthrottledUnderLoadTime, duringUnthrottled) = try await timedBackfill(copy3, unthrottled, savingTo: ids)
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_unthrottled_load WITH (FORCE)")

        // 4. The backfill alone, unthrottled, on a fresh copy.
        let copy4 = try await freshCopy(of: template, as: "pv_bench_backfill_unthrottled")
        let (unthrottledTime, _) = try await timedBackfill(copy4, unthrottled, savingTo: nil)
        benchmark.stopMeasurement()

        benchmark.measurement(saveP99Alone, alone.percentile(0.99))
        benchmark.measurement(saveP99During, during.percentile(0.99))
        benchmark.measurement(saveP50Alone, alone.percentile(0.5))
        benchmark.measurement(saveP50During, during.percentile(0.5))
        benchmark.measurement(backfillThrottled, milliseconds(throttledTime))
        benchmark.measurement(backfillUnthrottled, milliseconds(unthrottledTime))
        benchmark.measurement(backfillUnthrottledUnderLoad, milliseconds(unthrottledUnderLoadTime))
        benchmark.measurement(saveP99DuringUnthrottled, duringUnthrottled.percentile(0.99))
        benchmark.measurement(firstCheck, milliseconds(first))
        benchmark.measurement(secondCheck, milliseconds(second))
        benchmark.measurement(resumedCheck, milliseconds(resumed))
        print("saves alone: \(alone.count), during the throttled backfill: \(during.count), during the unthrottled one: \(duringUnthrottled.count)")
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_unthrottled WITH (FORCE)")
        try await admin("DROP DATABASE IF EXISTS pv_bench_backfill_under_load WITH (FORCE)")
    }
}
