import Foundation
import Logging
import MetricsTestKit
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import RuntimeFlags
import Synchronization
import Testing
import TestSupport

@Suite("Repository: metrics and shadow reads")
struct RepositoryObservabilityTests {
    @Test func readsFallbacksSavesAndConflictsAreCounted() async throws {
        try await TestDatabase.withFresh { db in
            let metrics = TestMetrics()
            let repository = ProgramRepository(
                pool: db.pool, flags: FixedFlagSource(Fixtures.bothOn), logger: Logger(label: "test"), metricsFactory: metrics)
            let legacyOnly = try await Fixtures.repository(db, Fixtures.off).create(Fixtures.program(), for: UUID())
            let versioned = try await repository.create(Fixtures.program(), for: UUID())
            _ = try await repository.program(legacyOnly.id)
            _ = try await repository.program(versioned.id)
            _ = try await repository.program(versioned.id)
            var edited = versioned.program
            edited.name = "Edited"
            _ = try await repository.save(edited, to: versioned.id, expectedRevision: versioned.revision)
            _ = try? await repository.save(edited, to: versioned.id, expectedRevision: versioned.revision)
            #expect(metrics.counterTotal(label: "program_versioning_reads_total", dimensions: [("source", "legacy")]) == 1)
            #expect(metrics.counterTotal(label: "program_versioning_reads_total", dimensions: [("source", "versions")]) == 2)
            #expect(metrics.counterTotal(label: "program_versioning_read_fallbacks_total", dimensions: [("reason", "no_version")]) == 1)
            // create cached version 1: both reads, and both saves (their single statement starts
            // from that version; the second finds the revision moved and ends in a conflict),
            // find it there.
            #expect(metrics.counterTotal(label: "program_versioning_version_cache_hits_total") == 4)
            #expect(metrics.counterTotal(label: "program_versioning_saves_total", dimensions: [("result", "dual_write")]) == 1)
            #expect(metrics.counterTotal(label: "program_versioning_save_conflicts_total") == 1)
            #expect(try metrics.expectTimer("program_versioning_read_duration").values.count == 3)
        }
    }

    @Test func aShadowReadReportsAVersionThatDisagreesWithLegacy() async throws {
        try await TestDatabase.withFresh { db in
            let metrics = TestMetrics()
            let reported = Mutex<[ShadowMismatch]>([])
            let repository = ProgramRepository(
                pool: db.pool, flags: FixedFlagSource(Fixtures.bothOn), logger: Logger(label: "test"), versionCacheCapacity: 0,
                shadowReads: ShadowReads(sampleRate: 1, onMismatch: { mismatch in reported.withLock { $0.append(mismatch) } }),
                metricsFactory: metrics)
            // The comparisons run in the repository's run(), as in the app's ServiceGroup.
            try await whileRunning(repository) {
                let created = try await repository.create(Fixtures.program(), for: UUID())
                // Agreeing sides: compared, nothing reported.
                _ = try await repository.program(created.id)
                try await Self.waitUntil { metrics.counterTotal(label: "program_versioning_shadow_reads_total", dimensions: [("result", "compared")]) == 1 }
                #expect(reported.withLock { $0.isEmpty })
                // A bug that wrote a wrong version (simulated by editing one behind the trigger's back).
                try await db.pool.withConnection { connection in
                    try await connection.executeScript(unsafeSQL: """
                        ALTER TABLE program_version_exercises DISABLE TRIGGER program_version_exercises_immutable;
                        UPDATE program_version_exercises SET reps = 12 WHERE exercise_id = 'e-bench';
                        ALTER TABLE program_version_exercises ENABLE TRIGGER program_version_exercises_immutable;
                        """)
                }
                let served = try await repository.program(created.id)
                #expect(served.source == .versions && served.program.workouts[0].exercises[0].reps == 12)
                try await Self.waitUntil { reported.withLock { !$0.isEmpty } }
                let mismatch = try #require(reported.withLock { $0.first })
                #expect(mismatch.served == .versions)
                #expect(mismatch.differences.map(\.description) == ["workouts[w-upper].exercises[e-bench].reps: 12 vs 6"])
                #expect(metrics.counterTotal(label: "program_versioning_shadow_reads_total", dimensions: [("result", "mismatch")]) == 1)
            }
        }
    }

    /// Polls `condition` for up to 30 seconds (shadow reads finish in the background; in a
    /// loaded CI run of the whole suite one took longer than 5 s).
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 30 s")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
