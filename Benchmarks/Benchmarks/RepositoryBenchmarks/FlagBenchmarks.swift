import Benchmark
import Foundation
import Logging
import PostgresDriver
import RuntimeFlags

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

    // From a flip's commit to the moment each of 4 listeners' snapshots shows it (each
    // listener with its own connection, as 4 app instances have). Goal: p99 <= 10 ms.
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
}

private func loadedFlagSource() async throws -> any FlagSource {
    if let loaded = flagState.loaded { return loaded }
    _ = try await setup.pool()
    let source = DatabaseFlagSource(
        connectionString: setup.url, logger: Logger(label: "bench"),
        fallback: EnvironmentFlagSource(fallback: FileFlagSource(path: "flags.json", logger: Logger(label: "bench"))))
    source.start()
    while !source.isLoaded { try await Task.sleep(for: .milliseconds(5)) }
    flagState.loaded = source
    return source
}

private func flagListeners() async throws -> [DatabaseFlagSource] {
    if !flagState.listeners.isEmpty { return flagState.listeners }
    _ = try await setup.pool()
    for _ in 0..<4 {
        let source = DatabaseFlagSource(connectionString: setup.url, logger: Logger(label: "bench"), refreshInterval: .seconds(60))
        source.start()
        while !source.isLoaded { try await Task.sleep(for: .milliseconds(5)) }
        flagState.listeners.append(source)
    }
    return flagState.listeners
}
