import ArgumentParser
import Foundation
import Logging
import PostgresDriver

/// `--database-url`, shared by every subcommand that talks to the database.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq URI or key=value string (default: $DATABASE_URL, else PG* variables).")
    var databaseURL: String?

    /// The connection string to use: the option, else DATABASE_URL, else "" (libpq defaults).
    var connectionString: String {
        databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
    }

    /// A pool for one CLI run, after checking the string parses, so a typo gets a clear error.
    func makePool(maxConnections: Int = 2) throws -> PGPool {
        let connectionString = self.connectionString
        if let problem = ConnectionString.parseError(of: connectionString) {
            throw OperatorError(
                "invalid database URL: \(problem). Expected postgresql://USER@HOST:PORT/DBNAME or key=value pairs (see --help)")
        }
        return PGPool(
            .init(connectionString: connectionString, maxConnections: maxConnections, acquireTimeout: .seconds(60)),
            logger: Logger(label: "program-versioning"))
    }
}

/// Runs `body` with a pool and closes the pool on every path.
func withPool<T: Sendable>(_ options: ConnectionOptions, maxConnections: Int = 2, _ body: (PGPool) async throws -> T) async throws -> T {
    let pool = try options.makePool(maxConnections: maxConnections)
    do {
        let value = try await body(pool)
        await pool.close()
        return value
    } catch {
        await pool.close()
        throw error
    }
}
