import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization
import TestSupport
import Testing

/// A flag source that records every snapshot handed out, to prove no operation ever saw
/// READS on with WRITES off.
final class WatchedFlagSource: FlagSource {
    private let inner: any FlagSource
    let invalid = Atomic<Int>(0)
    let served = Atomic<Int>(0)

    init(_ inner: any FlagSource) {
        self.inner = inner
    }

    func current() -> FlagSnapshot {
        let snapshot = inner.current()
        served.add(1, ordering: .relaxed)
        if snapshot.reads && !snapshot.writes { invalid.add(1, ordering: .relaxed) }
        return snapshot
    }
}

/// What the load test's tasks share.
final class LoadState: Sendable {
    let stop = Atomic<Bool>(false)
    let operations = Atomic<Int>(0)
}

@Suite("Runtime flags under load")
struct FlagFlipLoadTests {
    /// 8 tasks read and save programs while the CLI flips the flags 100 times through the
    /// rollout and back. Bounded: 100 flips, then the workers stop.
    @Test func operationsNeverFailOrSeeAnInvalidStateWhileFlagsFlip() async throws {
        try await TestDatabase.withFresh(maxConnections: 10) { db in
            let database = DatabaseFlagSource(connectionString: db.url, logger: Logger(label: "test"), refreshInterval: .seconds(1))
            let following = Task { await database.run() }
            let flags = WatchedFlagSource(database)
            let repository = ProgramRepository(pool: db.pool, flags: flags, logger: Logger(label: "test"))
            var programs: [UUID] = []
            for _ in 0..<8 { programs.append(try await repository.create(Fixtures.program(), for: UUID()).id) }

            let state = LoadState()
            // The rollout and back; READS is forced on (no checker run in between).
            let cycle: [[String]] = [
                ["writes", "on"], ["reads", "on", "--percent", "50", "--force", "--reason", "load test"], ["reads", "off"], ["writes", "off"],
            ]
            let failures = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<8 {
                    let programID = programs[worker]
                    group.addTask {
                        var failures = 0
                        var round = 0
                        while !state.stop.load(ordering: .relaxed) {
                            round += 1
                            do {
                                let stored = try await repository.program(programID)
                                var edited = stored.program
                                edited.workouts[0].exercises[0].reps = 1 + round % 20
                                // One writer per program: even a conflict would be a failure here.
                                _ = try await repository.save(edited, to: programID, expectedRevision: stored.revision)
                                state.operations.add(1, ordering: .relaxed)
                            } catch {
                                failures += 1
                                Issue.record("operation failed: \(error)")
                            }
                        }
                        return failures
                    }
                }
                group.addTask {
                    defer { state.stop.store(true, ordering: .relaxed) }
                    var refused = 0
                    for flip in 0..<100 {
                        let outcome = try await CommandLineTool.run(["flags", "set"] + cycle[flip % cycle.count] + ["--database-url", db.url])
                        if outcome.status != 0 { refused += 1 }
                    }
                    #expect(refused == 0, "every flip of the cycle is allowed")
                    return 0
                }
                return try await group.reduce(0, +)
            }
            #expect(failures == 0)
            #expect(state.operations.load(ordering: .relaxed) > 50)
            #expect(flags.invalid.load(ordering: .relaxed) == 0, "no operation saw READS on with WRITES off")
            #expect(try await FlagStore(pool: db.pool).history(limit: 200).count == 100)

            // No divergence: every program whose newest version still matches its legacy row
            // holds the same content on both sides. (One more dual-write save each first, so
            // every program has such a version whatever state the flips ended in.)
            let legacyReader = Fixtures.repository(db, Fixtures.writesOn, cache: 0)
            for programID in programs {
                let stored = try await legacyReader.program(programID)
                var edited = stored.program
                edited.name = "after the load"
                _ = try await legacyReader.save(edited, to: programID, expectedRevision: stored.revision)
            }
            var compared = 0
            for programID in programs {
                let legacy = try await legacyReader.program(programID)
                let fresh = try await db.pool.query("""
                    SELECT v.version FROM programs p JOIN program_versions v ON v.program_id = p.id
                     WHERE p.id = \(programID) AND v.legacy_xmin = p.xmin::text
                    """)
                if let row = fresh.first {
                    let version = try row.decode(Int.self, at: 0)
                    #expect(try await legacyReader.program(programID, version: version) == legacy.program)
                    compared += 1
                }
            }
            #expect(compared == programs.count)
            following.cancel()
            await following.value
        }
    }
}
