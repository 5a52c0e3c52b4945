import Foundation
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps

/// A primary and its hot standby (`scripts/replica`, started once per test process), for
/// the tests that read a standby or throttle on replica lag. Each test gets a database of
/// its own on the primary, migrated, and waits for the standby to have replayed it.
public enum ReplicaPair {
    /// The clusters' admin URLs.
    static let clusters = Task<(primary: String, standby: String), any Error> {
        let script = TestDatabase.repositoryRoot.appendingPathComponent("scripts/replica").path
        let started = try await ExternalTool.run("bash", [script, "start"])
        let urls = started.stdout.split(whereSeparator: \.isWhitespace).map(String.init)
        guard started.status == 0, urls.count == 2 else {
            throw PGError(code: .connectionFailed, message: "scripts/replica start failed: \(started.stderr)")
        }
        return (urls[0], urls[1])
    }

    /// One test's database on both sides.
    public struct Fresh: Sendable {
        public let name: String
        public let primaryURL: String
        public let standbyURL: String
        /// On the primary.
        public let pool: PGPool
        /// On the standby (read-only).
        public let standbyPool: PGPool

        /// Waits (bounded) until the standby has replayed everything the primary wrote so far.
        public func standbyCaughtUp(timeout: Duration = .seconds(30)) async throws {
            let target = try await pool.query("SELECT pg_current_wal_lsn()::text").single().decode(String.self, at: 0)
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let replayed = try await standbyPool.query("""
                    SELECT pg_last_wal_replay_lsn() >= \(target)::pg_lsn
                    """).single().decode(Bool.self, at: 0)
                if replayed { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw PGError(code: .poolTimeout, message: "the standby did not replay up to \(target) within \(timeout)")
        }
    }

    static func url(_ base: String, database: String) -> String {
        guard var components = URLComponents(string: base) else { return base }
        components.path = "/" + database
        return components.string ?? base
    }

    /// Runs `body` with a new migrated database on the primary, already on the standby, and
    /// drops it after.
    public static func withFresh<T: Sendable>(_ body: (Fresh) async throws -> T) async throws -> T {
        let (primary, standby) = try await clusters.value
        let name = "pv_replica_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin = try await PGConnection.connect(to: primary)
        // A generated name, not data.
        try await admin.query(PGQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        let pool = PGPool(.init(connectionString: url(primary, database: name), maxConnections: 8))
        let fresh = Fresh(
            name: name, primaryURL: url(primary, database: name), standbyURL: url(standby, database: name), pool: pool,
            standbyPool: PGPool(.init(connectionString: url(standby, database: name), maxConnections: 4)))
        func drop() async {
            await fresh.pool.close()
            await fresh.standbyPool.close()
            _ = try? await admin.query(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
            await admin.close()
        }
        do {
            _ = try await Migrator(migrations: try Migration.load(from: TestDatabase.migrationsPath), pool: pool).up()
            // The standby has the database once it replayed its creation (it may not accept a connection before).
            let deadline = ContinuousClock.now + .seconds(30)
            while (try? await fresh.standbyPool.query("SELECT 1")) == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await fresh.standbyCaughtUp()
            let value = try await body(fresh)
            await drop()
            return value
        } catch {
            await drop()
            throw error
        }
    }
}
