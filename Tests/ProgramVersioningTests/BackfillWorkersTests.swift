import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import TestSupport
import Testing

@Suite("backfill programs --workers N: ranges walked at once, counted once, resumed as started")
struct BackfillWorkersTests {
    typealias Wait = BackfillRobustnessTests
    static let seed = LegacySeeder.Options(programs: 1_500, messyPercent: 30, seed: 141)

    /// What one worker leaves on the same data: the reference every multi-worker run must equal.
    static func oneWorkerOutcome() async throws -> [String] {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(seed)
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 10))
            return try await BackfillFixtures.outcomeShape(db)
        }
    }

    @Test func threeWorkersWalkAtOnceComeBackForAHeldRowAndEndAsOneWorkerDoes() async throws {
        let reference = try await Self.oneWorkerOutcome()
        try await TestDatabase.withFresh(maxConnections: 10) { db in
            try await LegacySeeder(pool: db.pool).seed(Self.seed)
            try await BackfillFixtures.turnWritesOn(db)
            // A program in the middle of the key space, held by another transaction until the
            // ranges are walked: its worker skips it, the run comes back for it.
            let held = try await db.pool.query("SELECT id FROM programs ORDER BY id OFFSET 700 LIMIT 1").single().decode(UUID.self, at: 0)
            let holder = try await GentleBackfillTests.HeldRow(db, programID: held)
            let run = Task { try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 10, workers: 3)) }

            // All three ranges have moved before a third of the programs is seen: one walk
            // after another would need two ranges' worth first.
            let atOnce = try await Wait.waitUntil {
                try await BackfillFixtures.count(db, """
                    SELECT count(*) FROM backfill_runs r
                     WHERE r.status = 'RUNNING' AND r.seen < 1000
                       AND (SELECT count(cursor_key) FROM backfill_run_ranges WHERE run_id = r.id) = 3
                    """) == 1
            }
            #expect(atOnce, "the three ranges were not walked at the same time")
            // Every range walked; the held program gathered into the run's come-back list.
            #expect(try await Wait.waitUntil {
                try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE \(held) = ANY(deferred)") == 1
            })
            try await holder.release()
            let summary = try await run.value

            #expect(summary.status == .succeeded && summary.counts.seen == 1_500)
            #expect(summary.counts.seen == summary.counts.migrated + summary.counts.unchanged + summary.counts.reported)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions WHERE program_id = \(held)") == 1)
            #expect(try await BackfillFixtures.outcomeShape(db) == reference)
            // The ranges were scratch: a run that succeeded keeps none.
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_run_ranges") == 0)
            let workers = try await db.pool.query("SELECT options->>'workers' FROM backfill_runs").single().decode(String.self, at: 0)
            #expect(workers == "3")
        }
    }

    @Test func aKilledRunResumesOnlyWithItsWorkersAndCountsEveryProgramOnce() async throws {
        let reference = try await Self.oneWorkerOutcome()
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(Self.seed)
            try await BackfillFixtures.turnWritesOn(db)
            let process = try CommandLineTool.start(["backfill", "programs", "--workers", "3", "--batch-size", "10", "--database-url", db.url])
            let started = try await Wait.waitUntil {
                try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE seen >= 300") > 0
            }
            kill(process.processIdentifier, SIGKILL)
            #expect(started)
            #expect(try await Wait.waitUntil { !process.isRunning })
            let (status, seen) = try await db.pool.query("SELECT status, seen FROM backfill_runs").single().decode((String, Int).self)
            #expect(status == "RUNNING" && seen < 1_500, "the kill came after the run finished")
            let ranges = try await BackfillFixtures.digest(db, tables: ["backfill_run_ranges", "backfill_runs"])

            // Another number of workers would walk other ranges: refused, nothing touched.
            var other = try await CommandLineTool.run(["backfill", "programs", "--workers", "2", "--database-url", db.url])
            for _ in 0..<50 where other.stderr.contains("another backfill is running") {
                // The killed backend has not noticed its client is gone yet.
                try await Task.sleep(for: .milliseconds(200))
                other = try await CommandLineTool.run(["backfill", "programs", "--workers", "2", "--database-url", db.url])
            }
            #expect(other.status == 2)
            #expect(other.stderr.contains("started with 3 workers") && other.stderr.contains("--workers 3"), "\(other.stderr)")
            #expect(try await BackfillFixtures.digest(db, tables: ["backfill_run_ranges", "backfill_runs"]) == ranges)
            // backfill status says how the unfinished run must be resumed.
            let shown = try await CommandLineTool.run(["backfill", "status", "--database-url", db.url])
            #expect(shown.stdout.contains("STALE programs run") && shown.stdout.contains("3 workers (resume with --workers 3)"), "\(shown.stdout)")

            let resumed = try await CommandLineTool.run(["backfill", "programs", "--workers", "3", "--batch-size", "10", "--json", "--database-url", db.url])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
            #expect(json["resumed"] as? Bool == true && json["status"] as? String == "SUCCEEDED")
            // One run, every program counted once across the kill: nothing redone, nothing skipped.
            #expect(json["seen"] as? Int == 1_500)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs") == 1)
            #expect(try await BackfillFixtures.count(db, "SELECT count(DISTINCT program_id) FROM backfill_reports")
                == json["reported"] as? Int)
            #expect(try await BackfillFixtures.outcomeShape(db) == reference)
        }
    }

    @Test func aStopAndALostWorkerConnectionBothLeaveARunThatResumesToTheSameEnd() async throws {
        let reference = try await Self.oneWorkerOutcome()
        try await TestDatabase.withFresh(maxConnections: 10) { db in
            try await LegacySeeder(pool: db.pool).seed(Self.seed)
            try await BackfillFixtures.turnWritesOn(db)
            // The run on a pool of its own, so the test's connections can watch it.
            let runPool = PGPool(.init(connectionString: db.url, maxConnections: 4))
            defer { Task { await runPool.close() } }
            let options = BackfillOptions(batchSize: 10, workers: 3)

            // 1. Asked to stop (as SIGTERM does): every worker ends its batch, the run is INTERRUPTED.
            let stop = StopRequest()
            let stopped = Task { try await Backfill(pool: runPool).run(.programs, options: options, stop: stop) }
            #expect(try await Wait.waitUntil { try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE seen >= 200") > 0 })
            stop.request("test stop")
            let first = try await stopped.value
            #expect(first.status == .interrupted && first.counts.seen < 1_500)

            // 2. One worker's connection lost in the middle of the resumed run: the run fails
            //    (the others stop after their batch), every committed batch kept.
            let resumed = Task { try await Backfill(pool: runPool).run(.programs, options: options) }
            #expect(try await Wait.waitUntil {
                try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE status = 'RUNNING' AND seen >= \(first.counts.seen + 100)") > 0
            })
            // A worker's backend, caught inside a batch.
            let killed = try await Wait.waitUntil {
                try await BackfillFixtures.count(db, """
                    SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a
                     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state <> 'idle'
                       AND a.pid <> (SELECT backend_pid FROM backfill_runs WHERE status = 'RUNNING')
                       AND a.query LIKE '%FROM programs%'
                    """) > 0
            }
            #expect(killed, "no worker was caught inside a batch")
            do {
                let summary = try await resumed.value
                Issue.record("a run whose worker lost its connection ended \(summary.status)")
            } catch {
                #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE status = 'FAILED'") == 1, "\(error)")
            }

            // 3. Run again: it resumes the same run to the end a single uninterrupted worker reaches.
            let last = try await Backfill(pool: runPool).run(.programs, options: options)
            #expect(last.status == .succeeded && last.resumed && last.counts.seen == 1_500)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs") == 1)
            #expect(try await BackfillFixtures.outcomeShape(db) == reference)
        }
    }

    @Test func appSavesDuringATwoWorkerRunLeaveNoDuplicateAndNoStaleVersion() async throws {
        try await TestDatabase.withFresh(maxConnections: 12) { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 1_200, messyPercent: 20, seed: 142))
            try await BackfillFixtures.turnWritesOn(db)
            let (saves, summary) = try await BackfillFixtures.appSavesDuring(db) {
                try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 20, workers: 2))
            }
            #expect(saves >= 160 && summary.counts.seen == 1_200)
            #expect(summary.counts.seen == summary.counts.migrated + summary.counts.unchanged + summary.counts.reported)
        }
    }

    @Test func workersAreRefusedWhereRangesCannotBeWalkedApart() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 20, seed: 143))
            try await BackfillFixtures.turnWritesOn(db)
            for arguments in [["backfill", "sessions", "--workers", "2"], ["backfill", "programs", "--workers", "2", "--limit", "5"],
                              ["backfill", "programs", "--workers", "0"]] {
                let refused = try await CommandLineTool.run(arguments + ["--database-url", db.url])
                #expect(refused.status == 64, "\(arguments): \(refused.stderr)")
                #expect(refused.stderr.contains("--workers"), "\(arguments): \(refused.stderr)")
            }
            await #expect(throws: BackfillError.self) {
                try await Backfill(pool: db.pool).run(.legacy, options: .init(workers: 2))
            }
            // Nothing ran.
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs") == 0)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions") == 0)
        }
    }
}
