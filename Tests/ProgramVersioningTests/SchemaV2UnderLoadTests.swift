import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import Synchronization
import TestSupport
import Testing

@Suite("Schema v2's migrations on a database the app is saving to")
struct SchemaV2UnderLoadTests {
    /// What the app saw while it saved: saves made, errors by description, the longest save.
    final class AppLoad: Sendable {
        private let state = Mutex<(saves: Int, errors: [String], longest: Duration)>((0, [], .zero))

        func record(took: Duration, error: String?) {
            state.withLock {
                if let error { $0.errors.append(error) } else { $0.saves += 1 }
                $0.longest = max($0.longest, took)
            }
        }

        var snapshot: (saves: Int, errors: [String], longest: Duration) { state.withLock { $0 } }
        func reset() { state.withLock { $0 = (0, [], .zero) } }
    }

    @Test func migrations24To27RunWhileTheAppSavesAndNoSaveFailsOrWaitsUnbounded() async throws {
        try await TestDatabase.withFresh(maxConnections: 10) { db in
            // Every program versioned and every session linked, then taken back to schema v1
            // (migration 25's Down keeps every row), so the migrations have rows to move.
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 5_000, seed: 151))
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 1_000))
            _ = try await Backfill(pool: db.pool).run(.sessions, options: .init(batchSize: 1_000))
            let migrator = try MigratorTests.migrator(db)
            _ = try await migrator.down(to: 23)
            let ids = try await db.pool.query("SELECT id FROM programs ORDER BY id").map { try $0.decode(UUID.self, at: 0) }
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let load = AppLoad()
            let done = GentleBackfillTests.Flag()

            // Four app tasks, each editing programs of its own (no conflicts between them), on
            // schema v1 first, then through the migrations, then on v2.
            let app = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<4 {
                        group.addTask {
                            var round = 0
                            while !done.isSet {
                                round += 1
                                let id = ids[worker + 4 * (round % 50)]
                                let started = ContinuousClock.now
                                do {
                                    let current = try await repository.program(id)
                                    var edited = current.program
                                    edited.name = "Edited under migration \(worker)-\(round)"
                                    _ = try await repository.save(edited, to: id, expectedRevision: current.revision)
                                    load.record(took: started.duration(to: .now), error: nil)
                                } catch RepositoryError.invalidProgram {
                                    continue  // a messy legacy program the seeder made: the app's edit is refused, as ever
                                } catch {
                                    load.record(took: started.duration(to: .now), error: "\(error)")
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // Saves on v1 first.
            #expect(try await BackfillRobustnessTests.waitUntil(timeout: .seconds(30)) { load.snapshot.saves >= 100 })

            load.reset()
            let migrating = ContinuousClock.now
            let applied = try await migrator.up()
            let took = migrating.duration(to: .now)
            #expect(applied.map(\.version) == [24, 25, 26, 27])
            let during = load.snapshot
            // The app really saved while the migrations ran (about 2,900 saves in 6.5 s here).
            #expect(during.saves > 0, "no save overlapped the migrations (they took \(took))")
            load.reset()
            // Then on v2 (the one-statement save, its statements prepared again after the swap).
            #expect(try await BackfillRobustnessTests.waitUntil(timeout: .seconds(30)) { load.snapshot.saves >= 100 })
            done.set()
            try await app.value
            let after = load.snapshot

            #expect(during.errors.isEmpty, "saves failed during the migrations: \(during.errors.prefix(3))")
            #expect(after.errors.isEmpty, "saves failed after the migrations: \(after.errors.prefix(3))")
            // Migration 25 swaps the keys under a 5 s lock timeout: a save queued behind it
            // waits at most that plus the swap itself (0.2 s here, alone); 10 s is the bound.
            #expect(during.longest < .seconds(10), "the longest save during the migrations took \(during.longest)")
            // Every version the app wrote is whole and numbered without a gap, and each
            // program's latest version holds its legacy JSON.
            #expect(try await BackfillFixtures.count(db, """
                SELECT count(*) FROM (SELECT program_id, max(version) AS top, count(*) AS n FROM program_versions GROUP BY program_id) v
                 WHERE v.top <> v.n
                """) == 0)
            #expect(try await BackfillFixtures.count(db, """
                SELECT count(*) FROM program_versions v
                 WHERE NOT EXISTS (SELECT 1 FROM program_version_workouts w WHERE w.program_id = v.program_id AND w.program_version_id = v.id)
                """) == 0)
            let stale = try await BackfillFixtures.programsWithStaleOrMissingVersion(db)
            let edited = Set(try await db.pool.query("SELECT DISTINCT program_id FROM program_versions").map { try $0.decode(UUID.self, at: 0) })
            #expect(stale.filter(edited.contains).isEmpty)
        }
    }
}
