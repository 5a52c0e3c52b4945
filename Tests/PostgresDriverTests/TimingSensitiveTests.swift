import Foundation
import PostgresDriver
import Synchronization
import Testing
import TestSupport

/// Timing-sensitive: `scripts/test` runs this suite on its own, after the others, so 40
/// parallel tests on a 2-core machine cannot skew the latencies it measures.
@Suite("TimingSensitive: libpq never blocks the cooperative pool; NOTIFY arrives fast", .serialized)
struct TimingSensitiveTests {
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

    @Test func listenReceivesANotifyFromAnotherConnectionWithin100ms() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let listener = try await PGConnection.connect(to: db.url)
            defer { Task { await listener.close() } }
            try await listener.listen("flags changed")  // a name that needs quoting
            let stream = listener.notifications()
            let receiver = Task { () -> (PGNotification, ContinuousClock.Instant)? in
                for await notification in stream { return (notification, ContinuousClock.now) }
                return nil
            }
            try await db.pool.query("SELECT 1")  // the sender's connection is open before timing
            try await Task.sleep(for: .milliseconds(50))  // the listener is idle in poll(2)
            let sent = ContinuousClock.now
            try await db.pool.query("SELECT pg_notify(\("flags changed"), \("WRITES=on"))")
            let received = try #require(await receiver.value)
            #expect(received.0.channel == "flags changed")
            #expect(received.0.payload == "WRITES=on")
            #expect(received.1 - sent < .milliseconds(100), "took \(received.1 - sent)")
        }
    }

    @Test func aCancelledTaskGetsItsErrorWithin100msAndTheBackendIsIdleAfter() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let connection = try await PGConnection.connect(to: db.url)
            // Best of three, so one scheduling hiccup of a loaded machine does not decide it.
            var fastest = Duration.seconds(60)
            for _ in 0..<3 {
                let sleeper = Task { try await connection.query("SELECT pg_sleep(5)") }
                try await CancellationTests.waitUntilActive(connection.backendPID)
                let cancelled = ContinuousClock.now
                sleeper.cancel()
                let error = await #expect(throws: PGError.self) { try await sleeper.value }
                fastest = min(fastest, cancelled.duration(to: .now))
                #expect(error?.code == .cancelled)
                #expect(try await CancellationTests.backendState(connection.backendPID) == "idle")
            }
            #expect(fastest < .milliseconds(100), "the cancelled statement took \(fastest) to return")
            await connection.close()
        }
    }
}
