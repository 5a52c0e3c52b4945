import Foundation
import PostgresDriver
import Testing
import TestSupport

/// Cancellation reaches the server: a cancelled task's statement stops there, a cancelled
/// waiter leaves the pool's queue, and the connection is clean for the next user. The
/// 100 ms bound is checked in `TimingSensitiveTests`; these check the behaviour.
@Suite("Cancellation and timeouts reach the server and leave the connection clean")
struct CancellationTests {
    /// What the server says its backend `pid` is doing now.
    static func backendState(_ pid: Int32) async throws -> String? {
        try await TestDatabase.admin { admin in
            try await admin.query("SELECT state FROM pg_stat_activity WHERE pid = \(pid)").first?.decode(String?.self, at: 0)
        }
    }

    /// Waits until the server shows `pid` running a statement (not idle).
    static func waitUntilActive(_ pid: Int32) async throws {
        for _ in 0..<500 {
            if try await backendState(pid) == "active" { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("backend \(pid) never became active")
    }

    @Test func aCancelledTaskStopsItsStatementOnTheServerAndTheConnectionIsReusable() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let connection = try await PGConnection.connect(to: db.url)
            let sleeper = Task { try await connection.query("SELECT pg_sleep(30)") }
            try await Self.waitUntilActive(connection.backendPID)
            sleeper.cancel()
            let error = await #expect(throws: PGError.self) { try await sleeper.value }
            #expect(error?.code == .cancelled && error?.sqlState == "57014")
            #expect(try await Self.backendState(connection.backendPID) == "idle")
            // Same backend, nothing left over: the next statement runs normally.
            #expect(try await connection.query("SELECT pg_backend_pid()").single().decode(Int32.self, at: 0) == connection.backendPID)
            await connection.close()
        }
    }

    @Test func aTaskCancelledBeforeItsStatementNeverSendsIt() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            try await db.pool.query("CREATE TABLE writes (n int)")
            let writer = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await db.pool.withConnection { try await $0.query("INSERT INTO writes VALUES (1)") }
            }
            let error = await #expect(throws: PGError.self) { try await writer.value }
            #expect(error?.code == .cancelled)
            #expect(try await db.pool.query("SELECT count(*) FROM writes").single().decode(Int.self, at: 0) == 0)
        }
    }

    @Test func aTransactionCancelledMidStatementIsRolledBackAndItsConnectionGoesBackClean() async throws {
        try await TestDatabase.withFresh(migrated: false, maxConnections: 1) { db in
            try await db.pool.query("CREATE TABLE writes (n int)")
            let pid = try await db.pool.query("SELECT pg_backend_pid()").single().decode(Int32.self, at: 0)
            let writer = Task {
                try await db.pool.transaction { connection in
                    try await connection.query("INSERT INTO writes VALUES (1)")
                    try await connection.query("SELECT pg_sleep(30)")
                }
            }
            try await Self.waitUntilActive(pid)
            writer.cancel()
            let error = await #expect(throws: PGError.self) { try await writer.value }
            #expect(error?.code == .cancelled)
            // The one connection was kept (same backend), idle, and nothing was committed.
            #expect(try await db.pool.query("SELECT pg_backend_pid()").single().decode(Int32.self, at: 0) == pid)
            #expect(try await db.pool.query("SELECT count(*) FROM writes").single().decode(Int.self, at: 0) == 0)
        }
    }

    @Test func aStatementPastItsTimeoutIsStoppedOnTheServer() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let connection = try await PGConnection.connect(to: db.url)
            let started = ContinuousClock.now
            let error = await #expect(throws: PGError.self) {
                try await connection.query("SELECT pg_sleep(30)", timeout: .milliseconds(200))
            }
            #expect(error?.code == .timedOut && error?.message.contains("timeout") == true)
            #expect(started.duration(to: .now) < .seconds(10))
            // The session's own statement_timeout is untouched and the connection is clean.
            #expect(try await connection.query("SHOW statement_timeout").single().decode(String.self, at: 0) == "0")
            #expect(try await connection.query("SELECT 1::int8", timeout: .seconds(5)).single().decode(Int.self, at: 0) == 1)
            await connection.close()
        }
    }

    @Test func aCancelledWaiterLeavesThePoolQueueAtOnce() async throws {
        let pool = PGPool(.init(connectionString: TestDatabase.adminURL, maxConnections: 1, acquireTimeout: .seconds(60)))
        try await pool.withConnection { _ in
            let waiter = Task { try await pool.query("SELECT 1") }
            for _ in 0..<500 where await pool.waitingCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(await pool.waitingCount == 1)
            let cancelled = ContinuousClock.now
            waiter.cancel()
            let error = await #expect(throws: PGError.self) { try await waiter.value }
            #expect(error?.code == .cancelled)
            // Well before the 60 s checkout timeout; the queue is empty again.
            #expect(cancelled.duration(to: .now) < .seconds(5))
            #expect(await pool.waitingCount == 0)
        }
        // The connection the waiter never took serves the next caller.
        #expect(try await pool.query("SELECT 1::int8").single().decode(Int.self, at: 0) == 1)
        await pool.close()
    }

    @Test func aCheckoutTimeoutPerCallOverridesThePoolsDefault() async throws {
        let pool = PGPool(.init(connectionString: TestDatabase.adminURL, maxConnections: 1, acquireTimeout: .seconds(60)))
        try await pool.withConnection { _ in
            let started = ContinuousClock.now
            let error = await #expect(throws: PGError.self) {
                try await pool.query("SELECT 1", checkoutTimeout: .milliseconds(100))
            }
            #expect(error?.code == .poolTimeout && started.duration(to: .now) < .seconds(5))
        }
        await pool.close()
    }
}
