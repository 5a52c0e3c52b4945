import Benchmark
import Foundation
import Logging
import PostgresDriver
import ProgramVersioningOps
import RuntimeFlags
import Synchronization

/// What an operation pays to read the flags, and how fast a flip reaches running instances.
func flagBenchmarks() {
    // Goal: <= 50 ns and no allocation per snapshot read.
    Benchmark(
        "flags: snapshot read (store loaded, over environment and flags.json)",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .nanoseconds, scalingFactor: .mega, maxIterations: 100)
    ) { benchmark in
        let source = try await loadedFlagSource()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(source.current().readsVersions(for: benchUser)) }
    }

    // From a flip's commit to the moment 4 other processes (`program-versioning flags watch`,
    // which follows the store as an app instance does) print it. Goal: p99 <= 10 ms.
    Benchmark(
        "flags: flip to visible in 4 processes",
        configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 300)
    ) { benchmark in
        let watchers = try await flagWatchers()
        let store = FlagStore(pool: try await setup.pool())
        let next = !(watchers[0].writes ?? false)
        try await store.set(.writes, enabled: next, actor: "bench", reason: nil, force: false)
        benchmark.startMeasurement()
        while !watchers.allSatisfy({ $0.writes == next }) { await Task.yield() }
        benchmark.stopMeasurement()
    }

    // The same in-process: 4 sources with a connection each.
    Benchmark(
        "flags: flip to visible on 4 listeners",
        configuration: .init(metrics: [.wallClock], timeUnits: .microseconds, scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 300)
    ) { benchmark in
        let listeners = try await flagListeners()
        let store = FlagStore(pool: try await setup.pool())
        let next = !(listeners[0].current().writes)
        try await store.set(.writes, enabled: next, actor: "bench", reason: nil, force: false)
        benchmark.startMeasurement()
        while !listeners.allSatisfy({ $0.current().writes == next }) { await Task.yield() }
        benchmark.stopMeasurement()
    }
}

let benchUser = UUID()
private let flagState = FlagBenchState()

/// Listeners started once per run, outside every measurement.
final class FlagBenchState: @unchecked Sendable {
    // @unchecked: the runner runs one benchmark at a time.
    var loaded: DatabaseFlagSource?
    var listeners: [DatabaseFlagSource] = []
    var watchers: [FlagWatcher] = []
    /// The sources' `run()`s: they follow the store for the rest of the benchmark process.
    var following: [Task<Void, Never>] = []
}

/// One `flags watch` process, its output read on a thread of its own so a printed change
/// is noticed the moment it arrives.
final class FlagWatcher: Sendable {
    private let state = Mutex<Bool?>(nil)
    let process: Process

    /// The WRITES value the process printed last.
    var writes: Bool? { state.withLock { $0 } }

    init(cli: String, databaseURL: String) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = ["flags", "watch", "--for", "600", "--database-url", databaseURL]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = pipe.fileHandleForReading
        let thread = Thread { [self] in
            var pending = ""
            while true {
                let data = reader.availableData
                if data.isEmpty { return }
                pending += String(decoding: data, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = pending[..<newline]
                    if line.contains("PROGRAM_VERSIONING_WRITES=on") { self.state.withLock { $0 = true } }
                    if line.contains("PROGRAM_VERSIONING_WRITES=off") { self.state.withLock { $0 = false } }
                    pending = String(pending[pending.index(after: newline)...])
                }
            }
        }
        thread.start()
    }
}

private func flagWatchers() async throws -> [FlagWatcher] {
    if !flagState.watchers.isEmpty { return flagState.watchers }
    _ = try await setup.pool()
    guard let cli = ProcessInfo.processInfo.environment["PV_CLI"] else {
        fatalError("PV_CLI must name the program-versioning binary (scripts/bench sets it)")
    }
    for _ in 0..<4 { flagState.watchers.append(try FlagWatcher(cli: cli, databaseURL: setup.url)) }
    while flagState.watchers.contains(where: { $0.writes == nil }) { try await Task.sleep(for: .milliseconds(10)) }
    return flagState.watchers
}

private func loadedFlagSource() async throws -> any FlagSource {
    if let loaded = flagState.loaded { return loaded }
    _ = try await setup.pool()
    let source = DatabaseFlagSource(
        connectionString: setup.url, logger: Logger(label: "bench"),
        fallback: EnvironmentFlagSource(fallback: FileFlagSource(path: "flags.json", logger: Logger(label: "bench"))))
    flagState.following.append(Task { await source.run() })
    while !source.isLoaded { try await Task.sleep(for: .milliseconds(5)) }
    flagState.loaded = source
    return source
}

private func flagListeners() async throws -> [DatabaseFlagSource] {
    if !flagState.listeners.isEmpty { return flagState.listeners }
    _ = try await setup.pool()
    for _ in 0..<4 {
        let source = DatabaseFlagSource(connectionString: setup.url, logger: Logger(label: "bench"), refreshInterval: .seconds(60))
        flagState.following.append(Task { await source.run() })
        while !source.isLoaded { try await Task.sleep(for: .milliseconds(5)) }
        flagState.listeners.append(source)
    }
    return flagState.listeners
}
