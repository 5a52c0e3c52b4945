import Foundation
import PostgresDriver
import Synchronization
import Testing
import TestSupport

@Suite("The pool bounds, waits, replaces and drains")
struct PoolTests {
    @Test func sixtyFourTasksOnFourConnectionsAllCompleteWhileTheCooperativePoolKeepsRunning() async throws {
        try await TestDatabase.withFresh(migrated: false, maxConnections: 4) { db in
            // A heartbeat on the cooperative pool records the longest gap between its ticks.
            // If libpq calls blocked cooperative threads, every thread (one per core) would
            // sit in a 300 ms pg_sleep at once and the heartbeat would stall for about that
            // long; when they only suspend tasks, it keeps ticking every ~10 ms.
            let longestGapMilliseconds = Atomic<Int>(0)
            let ticks = Atomic<Int>(0)
            let done = Atomic<Bool>(false)
            let heartbeat = Task {
                var last = ContinuousClock.now
                while !done.load(ordering: .relaxed) {
                    try? await Task.sleep(for: .milliseconds(10))
                    let now = ContinuousClock.now
                    let gap = Int((now - last) / .milliseconds(1))
                    if gap > longestGapMilliseconds.load(ordering: .relaxed) { longestGapMilliseconds.store(gap, ordering: .relaxed) }
                    ticks.add(1, ordering: .relaxed)
                    last = now
                }
            }
            let started = ContinuousClock.now
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        try await db.pool.query("SELECT \(index)::int8 FROM pg_sleep(0.3)").single().decode(Int.self, at: 0)
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let elapsed = ContinuousClock.now - started
            done.store(true, ordering: .relaxed)
            await heartbeat.value
            #expect(results.sorted() == Array(0..<64))
            // 64 sleeps of 300 ms on 4 connections take at least 16 x 300 ms.
            #expect(elapsed >= .milliseconds(4_750))
            #expect(longestGapMilliseconds.load(ordering: .relaxed) < 150, "the heartbeat stalled for \(longestGapMilliseconds.load(ordering: .relaxed)) ms")
            #expect(ticks.load(ordering: .relaxed) > 100)
            #expect(await db.pool.openConnectionCount <= 4)
            let backends = try await db.pool.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").single().decode(Int.self, at: 0)
            #expect(backends <= 4)
        }
    }

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
            await #expect(throws: PostgresError.self) {
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
        let pool = PostgresPool(.init(connectionString: TestDatabase.adminURL, maxConnections: 1, acquireTimeout: .milliseconds(200)))
        try await pool.withConnection { _ in
            do {
                try await pool.query("SELECT 1")
                Issue.record("expected a timeout")
            } catch let error as PostgresError {
                #expect(error.code == .poolTimeout)
                #expect(error.message.contains("no database connection became free"))
            }
        }
        await pool.close()
    }

    @Test func closeWaitsForConnectionsInUseAndRefusesNewWork() async throws {
        let pool = PostgresPool(.init(connectionString: TestDatabase.adminURL, maxConnections: 2))
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
        await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
    }
}
