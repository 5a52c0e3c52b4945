import Benchmark
import Foundation
import PostgresDriver
import RawLibPQ

/// Connections opened once, outside any measurement, and reused by every sample: the
/// benchmarks measure warm round trips, not connection start-up.
final class Connections: @unchecked Sendable {
    // @unchecked: the benchmark runner runs one benchmark at a time, so these are never
    // touched concurrently.
    let url = ProcessInfo.processInfo.environment["PV_BENCH_DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:54329/postgres"
    private var rawConnection: RawConnection?
    private var driverConnection: PGConnection?
    private var driverPool: PGPool?

    func raw() -> RawConnection {
        if let rawConnection { return rawConnection }
        guard let connection = RawConnection(url) else { fatalError("cannot connect to \(url); start it with scripts/postgres start") }
        rawConnection = connection
        return connection
    }

    func driver() async throws -> PGConnection {
        if let driverConnection { return driverConnection }
        let connection = try await PGConnection.connect(to: url)
        driverConnection = connection
        return connection
    }

    func pool() -> PGPool {
        if let driverPool { return driverPool }
        let pool = PGPool(.init(connectionString: url, maxConnections: 1))
        driverPool = pool
        return pool
    }
}

let connections = Connections()
let fetchSQL: PGQuery = "SELECT g::int8, 'exercise ' || g FROM generate_series(1, 1000) g"

/// Fetches the 1000 rows and reads every value, as `RawConnection.fetch` does.
func fetchAndDecode(_ connection: PGConnection) async throws -> Int {
    var checksum = 0
    for row in try await connection.query(fetchSQL) {
        let (number, text) = try row.decode((Int, String).self)
        checksum &+= number &+ text.utf8.count
    }
    return checksum
}

/// The driver next to raw libpq on the same server in the same run. `scripts/bench` turns
/// the pairs into ratios (driver / libpq); the goal is <= 1.2x per round trip.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 5,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 200)

    Benchmark("round trip SELECT 1: libpq") { benchmark in
        let raw = connections.raw()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(raw.selectOne()) }
    }

    Benchmark("round trip SELECT 1: driver") { benchmark in
        let connection = try await connections.driver()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await connection.query("SELECT 1").single().decode(Int32.self, at: 0))
        }
    }

    Benchmark("round trip SELECT 1: driver pinned") { benchmark in
        let connection = try await connections.driver()
        try await withTaskExecutorPreference(connection.executor) {
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try await connection.query("SELECT 1").single().decode(Int32.self, at: 0))
            }
            benchmark.stopMeasurement()
        }
    }

    Benchmark("round trip SELECT 1: driver via pool") { benchmark in
        let pool = connections.pool()
        try await pool.query("SELECT 1")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await pool.query("SELECT 1").single().decode(Int32.self, at: 0))
        }
    }

    Benchmark("fetch 1000 rows: libpq", configuration: .init(scalingFactor: .one, maxIterations: 2_000)) { benchmark in
        let raw = connections.raw()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(raw.fetch(rows: 1000)) }
    }

    Benchmark("fetch 1000 rows: driver pinned", configuration: .init(scalingFactor: .one, maxIterations: 2_000)) { benchmark in
        let connection = try await connections.driver()
        try await withTaskExecutorPreference(connection.executor) {
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try await fetchAndDecode(connection)) }
            benchmark.stopMeasurement()
        }
    }

    Benchmark("fetch 1000 rows: driver", configuration: .init(scalingFactor: .one, maxIterations: 2_000)) { benchmark in
        let connection = try await connections.driver()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try await fetchAndDecode(connection)) }
    }
}
