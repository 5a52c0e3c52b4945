import Foundation
import Logging
import ServiceLifecycle
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization
import TestSupport
import Testing

/// Shadow-read consistency stored per minute by the app, and the guarded READS ramp that
/// judges it (issue 19). The ramp holds each step for a time and needs traffic within it,
/// so the suite runs alone, with the other timing-sensitive tests (scripts/test).
@Suite("Shadow-read consistency and the guarded READS ramp (alone)")
struct ShadowRampTimingSensitiveTests {
    /// An app instance as a service runs it: flags followed from the store, shadow reads
    /// recorded, its background work running until the test ends.
    final class App: Sendable {
        let flags: DatabaseFlagSource
        let repository: ProgramRepository
        let pool: PGPool
        let group: ServiceGroup
        private let running = Mutex<Task<Void, any Error>?>(nil)

        init(_ db: TestDatabase.Fresh, instance: String, flushEvery: Duration = .milliseconds(200)) {
            pool = PGPool(.init(connectionString: db.url, maxConnections: 4))
            flags = DatabaseFlagSource(connectionString: db.url, logger: Logger(label: "flags"), refreshInterval: .milliseconds(200))
            // No version cache: a version changed behind the library's back is read as it now is.
            repository = ProgramRepository(
                pool: pool, flags: flags, logger: Logger(label: "app"), versionCacheCapacity: 0,
                shadowReads: ShadowReads(sampleRate: 1, maxInFlight: 4, recording: .init(instance: instance, flushInterval: flushEvery)))
            group = ServiceGroup(configuration: .init(services: [flags, repository], logger: Logger(label: "group")))
        }

        func start() async throws {
            let group = self.group
            running.withLock { $0 = Task { try await group.run() } }
            let deadline = ContinuousClock.now + .seconds(5)
            while !flags.isLoaded, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }

        /// Reads `programs` round and round until `done` (or `limit` reads); returns how many.
        func read(_ programs: [UUID], until done: @Sendable () -> Bool, limit: Int = 100_000) async -> Int {
            var reads = 0
            while !done(), reads < limit {
                _ = try? await repository.program(programs[reads % programs.count])
                reads += 1
                if reads % 20 == 0 { try? await Task.sleep(for: .milliseconds(5)) }
            }
            return reads
        }

        /// A graceful shutdown, as the app's ServiceGroup makes one: the last counts are written.
        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await running.withLock { $0 }?.value
            await pool.close()
        }
    }

    final class ReadCounter: Sendable {
        private let count = Atomic<Int>(0)
        func next() -> Int { count.add(1, ordering: .relaxed).newValue }
    }

    static func phaseThree(_ db: TestDatabase.Fresh, programs: Int = 20) async throws -> [UUID] {
        try await LegacySeeder(pool: db.pool).seed(.init(programs: programs, seed: 33, sessionsPerProgram: 0))
        try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: nil, force: false)
        _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
        try await PhaseFiveFixtures.requireCleanCheck(db)
        return try await db.pool.query("SELECT id FROM programs ORDER BY id").map { try $0.decode(UUID.self, at: 0) }
    }

    @Test func theRampAdvancesToTheLastStepUnderCleanTraffic() async throws {
        try await TestDatabase.withFresh { db in
            let programs = try await Self.phaseThree(db)
            let app = App(db, instance: "api-1")
            try await app.start()
            let done = Atomic<Bool>(false)
            async let reads = app.read(programs, until: { done.load(ordering: .relaxed) })
            let options = ReadsRamp.Options(
                steps: [5, 50, 100], every: .milliseconds(1_500), minComparisons: 20, pollInterval: .milliseconds(250), actor: "ramp-test")
            let events = Mutex<[String]>([])
            let outcome = try await ReadsRamp(pool: db.pool).run(options) { event in
                if case .stepStarted(let percent) = event { events.withLock { $0.append("step \(percent)") } }
            }
            done.store(true, ordering: .relaxed)
            let readCount = await reads
            await app.stop()
            guard case .completed(let percent) = outcome else { Issue.record("not completed: \(outcome)"); return }
            #expect(percent == 100 && events.withLock { $0 } == ["step 5", "step 50", "step 100"])
            #expect(try await FlagStore(pool: db.pool).snapshot() == FlagSnapshot(writes: true, reads: true, readPercent: 100))
            let reasons = try await FlagStore(pool: db.pool).history(limit: 3).compactMap(\.reason)
            #expect(reasons == ["ramp: step 3 of 3 (5,50,100)", "ramp: step 2 of 3 (5,50,100)", "ramp: step 1 of 3 (5,50,100)"])
            // What the app recorded adds up to what it did.
            let summary = try await ShadowReadSummary.load(pool: db.pool, window: .seconds(600))
            #expect(summary.legacyReads + summary.versionedReads == readCount, "\(readCount) reads")
            #expect(summary.compared >= 60 && summary.mismatched == 0 && summary.consistencyPercent == 100)
            #expect(summary.versionedReads > 0 && summary.legacyReads > 0)
            // The check's report shows the app's view beside its own; status too.
            let report = try await ConsistencyCheck(pool: db.pool).run()
            #expect(report.shadowReads?.compared == summary.compared && report.shadowReads?.consistencyPercent == 100)
            let status = try await RolloutStatus.load(pool: db.pool)
            #expect(status.shadowReads?.compared == summary.compared)
        }
    }

    @Test func aVersionCorruptedBehindTheLibrarysBackWhileTrafficRunsTurnsReadsOff() async throws {
        try await TestDatabase.withFresh { db in
            let programs = try await Self.phaseThree(db)
            let app = App(db, instance: "api-1")
            try await app.start()
            let done = Atomic<Bool>(false)
            async let reads = app.read(programs, until: { done.load(ordering: .relaxed) })
            let options = ReadsRamp.Options(
                steps: [5, 50, 100], every: .seconds(3), minComparisons: 20, pollInterval: .milliseconds(250), actor: "ramp-test")
            let corrupted = Atomic<Bool>(false)
            let outcome = try await ReadsRamp(pool: db.pool).run(options) { event in
                guard case .holding = event, !corrupted.exchange(true, ordering: .relaxed) else { return }
                // Behind the library's back (triggers off for this session): every version's first exercise gets one rep more.
                Task {
                    try await db.pool.withConnection { connection in
                        try await connection.executeScript(unsafeSQL: """
                            SET session_replication_role = replica;
                            UPDATE program_version_exercises SET reps = reps + 1 WHERE position = 0;
                            RESET session_replication_role;
                            """)
                    }
                }
            }
            done.store(true, ordering: .relaxed)
            _ = await reads
            await app.stop()
            guard case .rolledBack(let percent, let reason) = outcome else { Issue.record("not rolled back: \(outcome)"); return }
            #expect(percent == 5 && reason.contains("shadow-read consistency") && reason.contains("reps"), "\(reason)")
            #expect(try await FlagStore(pool: db.pool).snapshot().reads == false)
            let newest = try await FlagStore(pool: db.pool).history(limit: 1).first
            #expect(newest?.name == FlagName.reads.rawValue && newest?.newEnabled == false && newest?.actor == "ramp-test")
            #expect(newest?.reason?.hasPrefix("ramp rolled back at 5 %: shadow-read consistency") == true)
        }
    }

    @Test func perMinuteRowsStayBoundedUnderLoad() async throws {
        try await TestDatabase.withFresh { db in
            let programs = try await Self.phaseThree(db, programs: 10)
            let apps = [App(db, instance: "api-1", flushEvery: .milliseconds(100)), App(db, instance: "api-2", flushEvery: .milliseconds(100))]
            for app in apps { try await app.start() }
            let started = Date()
            // 1,500 reads (or 60 s, whichever first) from six readers in two instances.
            let stopAt = ContinuousClock.now + .seconds(60)
            let total = ReadCounter()
            let counts = await withTaskGroup(of: Int.self) { group in
                for app in apps {
                    for _ in 0..<3 {
                        group.addTask {
                            await app.read(programs, until: {
                                total.next() > 1_500 || ContinuousClock.now >= stopAt
                            })
                        }
                    }
                }
                return await group.reduce(0, +)
            }
            for app in apps { await app.stop() }
            let minutes = Int(Date().timeIntervalSince1970 / 60) - Int(started.timeIntervalSince1970 / 60) + 1
            let rows = try await BackfillFixtures.count(db, "SELECT count(*) FROM shadow_read_minutes")
            // One row per instance per minute, whatever the traffic.
            #expect(rows <= 2 * minutes && rows >= 2, "\(rows) rows over \(minutes) minutes")
            let recorded = try await BackfillFixtures.count(db, "SELECT sum(legacy_reads + versioned_reads)::int8 FROM shadow_read_minutes")
            #expect(recorded == counts, "\(counts) reads, \(recorded) recorded")
            #expect(counts >= 1_000, "the load must be real: \(counts) reads")
        }
    }
}
