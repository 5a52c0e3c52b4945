import Foundation
import PostgresDriver
import Synchronization
import Testing
import TestSupport

@Suite("The pool bounds, waits, replaces and drains")
struct PoolTests {
    @Test func aTerminatedConnectionIsReplacedAndTheNextQuerySucceeds() async throws {
        try await TestDatabase.withFresh(migrated: false, maxConnections: 1) { db in
            let pid = try await db.pool.query("SELECT pg_backend_pid()").single().decode(Int.self, at: 0)
            try await TestDatabase.admin { admin in
                #expect(try await admin.query("SELECT pg_terminate_backend(\(pid)::int4)").single().decode(Bool.self, at: 0))
                // Wait until the backend is gone, so the kill has certainly happened.
                for _ in 0..<200 {
                    let alive = try await admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = \(pid)::int4").single().decode(Int.self, at: 0)
                    if alive == 0 { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let newPID = try await db.pool.query("SELECT pg_backend_pid()").single().decode(Int.self, at: 0)
            #expect(newPID != pid)
        }
    }

    @Test func aConnectionLostMidQueryIsDiscarded() async throws {
        try await TestDatabase.withFresh(migrated: false, maxConnections: 1) { db in
            await #expect(throws: PGError.self) {
                try await db.pool.withConnection { connection in
                    try await TestDatabase.admin { admin in
                        try await admin.query("SELECT pg_terminate_backend(\(connection.backendPID))")
                    }
                    try await Task.sleep(for: .milliseconds(50))
                    try await connection.query("SELECT 1")
                }
            }
            let one = try await db.pool.query("SELECT 1::int8").single().decode(Int.self, at: 0)
            #expect(one == 1)
        }
    }

    @Test func aWaiterTimesOutWithAClearError() async throws {
        let pool = PGPool(.init(connectionString: TestDatabase.adminURL, maxConnections: 1, acquireTimeout: .milliseconds(200)))
        try await pool.withConnection { _ in
            do {
                try await pool.query("SELECT 1")
                Issue.record("expected a timeout")
            } catch let error as PGError {
                #expect(error.code == .poolTimeout)
                #expect(error.message.contains("no database connection became free"))
            }
        }
        await pool.close()
    }

    @Test func closeWaitsForConnectionsInUseAndRefusesNewWork() async throws {
        let pool = PGPool(.init(connectionString: TestDatabase.adminURL, maxConnections: 2))
        let inUse = Task {
            try await pool.withConnection { connection in
                try await connection.query("SELECT pg_sleep(0.3)")
                return true
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        await pool.close()
        #expect(ContinuousClock.now - started >= .milliseconds(100), "close waited for the connection in use")
        #expect(try await inUse.value)
        #expect(await pool.openConnectionCount == 0)
        await #expect(throws: PGError.self) { try await pool.query("SELECT 1") }
    }
}
