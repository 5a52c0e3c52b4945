import Foundation
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps

/// Integration tests run against a real PostgreSQL (started by `scripts/test`), each in a
/// fresh database cloned from a migrated template: cloning takes milliseconds, migrating
/// takes longer, and tests never see each other's rows.
///
/// `PV_TEST_DATABASE_URL` names the server (a superuser connection); the default is the
/// cluster `scripts/postgres start` runs.
public enum TestDatabase {
    /// The server's admin connection string.
    public static let adminURL: String =
        ProcessInfo.processInfo.environment["PV_TEST_DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:54329/postgres"

    /// The repository root (for `migrations/` and the CLI binary).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The repository's migrations folder.
    public static var migrationsPath: String { repositoryRoot.appendingPathComponent("migrations").resolvingSymlinksInPath().path }

    /// A connection string for `database` on the test server, keeping every other setting.
    public static func url(for database: String) -> String {
        var parameters = ConnectionString.parameters(of: adminURL) ?? [:]
        parameters["dbname"] = database
        return parameters.sorted { $0.key < $1.key }.compactMap { key, value in
            guard !value.isEmpty else { return nil }
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            return "\(key)='\(escaped)'"
        }.joined(separator: " ")
    }

    /// A database created for one test.
    public struct Fresh: Sendable {
        /// The database name.
        public let name: String
        /// Its connection string.
        public let url: String
        /// A pool on it (closed when the test ends).
        public let pool: PGPool
    }

    /// Runs `body` with a new database (migrated unless `migrated` is false) and drops it after.
    @discardableResult
    public static func withFresh<T: Sendable>(
        migrated: Bool = true, maxConnections: Int = 8, _ body: (Fresh) async throws -> T
    ) async throws -> T {
        let name = "pv_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let template = migrated ? try await migratedTemplate.value : "template0"
        try await admin { connection in
            // Generated names, not data: safe to place in SQL text.
            try await connection.query(PGQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(template)"))
        }
        let fresh = Fresh(name: name, url: url(for: name), pool: PGPool(.init(connectionString: url(for: name), maxConnections: maxConnections)))
        do {
            let value = try await body(fresh)
            await drop(fresh)
            return value
        } catch {
            await drop(fresh)
            throw error
        }
    }

    private static func drop(_ fresh: Fresh) async {
        await fresh.pool.close()
        _ = try? await admin { connection in
            try await connection.query(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(fresh.name) WITH (FORCE)"))
        }
    }

    /// Runs `body` on a connection to the admin database.
    @discardableResult
    public static func admin<T: Sendable>(_ body: (PGConnection) async throws -> T) async throws -> T {
        let connection = try await PGConnection.connect(to: adminURL)
        do {
            let value = try await body(connection)
            await connection.close()
            return value
        } catch {
            await connection.close()
            throw error
        }
    }

    /// The template, created once per process and reused across runs while the migration
    /// files are unchanged (its name carries their checksum).
    static let migratedTemplate = Task<String, any Error> {
        let migrations = try Migration.load(from: migrationsPath)
        let digest = SHA256Hex.of(migrations.map(\.checksum).joined())
        let name = "pv_template_" + digest.prefix(12)
        try await admin { connection in
            // Another test process may be creating it: take turns (the lock ends with the connection).
            try await connection.query("SELECT pg_advisory_lock(424242)")
            let exists = try await connection.query("SELECT count(*) FROM pg_database WHERE datname = \(name)").single().decode(Int.self, at: 0) > 0
            if exists { return }
            let building = name + "_building"
            try await connection.query(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(building) WITH (FORCE)"))
            try await connection.query(PGQuery(unsafeSQL: "CREATE DATABASE \(building) TEMPLATE template0"))
            let pool = PGPool(.init(connectionString: url(for: building), maxConnections: 1))
            do {
                try await Migrator(migrations: migrations, pool: pool).up()
                await pool.close()
            } catch {
                await pool.close()
                throw error
            }
            try await connection.query(PGQuery(unsafeSQL: "ALTER DATABASE \(building) RENAME TO \(name)"))
        }
        return name
    }
}
