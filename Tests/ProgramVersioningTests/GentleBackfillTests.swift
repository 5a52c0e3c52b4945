import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import Synchronization
import TestSupport
import Testing

@Suite("Backfills that never hurt the app: held rows skipped, pause and resume, honest run states")
struct GentleBackfillTests {
    typealias Wait = BackfillRobustnessTests

    /// A transaction of its own holding one program's row `FOR UPDATE` until `release`.
    final class HeldRow: Sendable {
        let connection: PGConnection

        init(_ db: TestDatabase.Fresh, programID: UUID) async throws {
            connection = try await PGConnection.connect(to: db.url)
            try await connection.query("BEGIN")
            try await connection.query("SELECT 1 FROM programs WHERE id = \(programID) FOR UPDATE")
        }

        func release() async throws {
            try await connection.query("ROLLBACK")
            await connection.close()
        }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    static func programIDsInKeyOrder(_ db: TestDatabase.Fresh) async throws -> [UUID] {
        try await db.pool.query("SELECT id FROM programs ORDER BY id").map { try $0.decode(UUID.self, at: 0) }
    }

    /// The app's UPDATEs of `programID`, run back to back until `done` (at least one), each
    /// under a 5 s statement timeout as the app's are and a `lockWait` lock timeout: an
    /// UPDATE that would wait longer for a row lock fails with 55P03 and is counted, so a
    /// lock convoy shows apart from a merely slow (loaded) machine.
    static func appUpdates(
        _ db: TestDatabase.Fresh, programID: UUID, lockWait: Duration, until done: Flag
    ) async throws -> (slowest: Duration, count: Int, lockWaitsTooLong: Int) {
        let app = try await PGConnection.connect(to: db.url)
        try await app.query("SET statement_timeout = '5s'")
        let milliseconds: Int64 = lockWait.components.seconds * 1000
        let lockTimeout: String = String(milliseconds) + "ms"
        try await app.query("SELECT set_config('lock_timeout', \(lockTimeout), false)")
        var slowest: Duration = .zero
        var count = 0, lockWaitsTooLong = 0
        repeat {
            let started = ContinuousClock.now
            do {
                try await app.query("UPDATE programs SET updated_at = now() WHERE id = \(programID)")
            } catch {
                guard error.sqlState == "55P03" else { throw error }
                lockWaitsTooLong += 1
            }
            slowest = max(slowest, started.duration(to: .now))
            count += 1
        } while !done.isSet
        await app.close()
        return (slowest, count, lockWaitsTooLong)
    }

    /// The latest run of `kind` (status "none" before the process has made its row).
    static func run(_ db: TestDatabase.Fresh, _ kind: String) async throws -> (status: String, seen: Int, throttled: String?, error: String?) {
        try await db.pool.query("""
            SELECT status, seen, throttled, error FROM backfill_runs WHERE kind = \(kind) ORDER BY started_at DESC LIMIT 1
            """).first?.decode((String, Int, String?, String?).self) ?? ("none", 0, nil, nil)
    }

    @Test func aRowHeldForTheWholeRunIsReportedNotWaitedForAndTheNextRunMigratesIt() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 300, seed: 72))
            try await BackfillFixtures.turnWritesOn(db)
            let ids = try await Self.programIDsInKeyOrder(db)
            // The row stays held until after the run returns: a run that waited for it
            // would never return, so reaching the expectations is the proof.
            let held = try await HeldRow(db, programID: ids[7])
            let summary = try await Backfill(pool: db.pool).run(
                .programs, options: .init(batchSize: 50, lockedRowPatience: .seconds(1)))
            #expect(summary.status == .succeeded)
            #expect(summary.counts.seen == 300 && summary.counts.reported == 1 && summary.reportsByReason == ["ROW_LOCKED": 1])
            #expect(summary.reports.first?.programID == ids[7] && summary.reports.first?.detail.contains("another transaction held") == true)
            try await held.release()

            let again = try await Backfill(pool: db.pool).run(.programs, options: .init())
            #expect(again.counts.migrated == 1 && again.counts.reported == 0)
            #expect(try await BackfillFixtures.programsWithStaleOrMissingVersion(db).isEmpty)
        }
    }

    @Test func heldSessionsAndLegacyRowsAreSkippedTooAndComeBack() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 120, seed: 73))
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            let session = try await db.pool.query("SELECT id FROM workout_sessions ORDER BY id OFFSET 5 LIMIT 1").single().decode(UUID.self, at: 0)
            let holder = try await PGConnection.connect(to: db.url)
            try await holder.query("BEGIN")
            try await holder.query("SELECT 1 FROM workout_sessions WHERE id = \(session) FOR UPDATE")
            let release = Task {
                try await Task.sleep(for: .seconds(1))
                try await holder.query("ROLLBACK")
                await holder.close()
            }
            let sessions = try await Backfill(pool: db.pool).run(.sessions, options: .init(batchSize: 40))
            try await release.value
            #expect(sessions.status == .succeeded && sessions.counts.reported == 0)
            #expect(sessions.counts.seen == sessions.counts.linked + sessions.counts.alreadyLinked)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM workout_sessions WHERE id = \(session) AND program_version_id IS NOT NULL") == 1)
        }
        // backfill legacy, the way back from phase 5: a legacy row another transaction holds.
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 30, seed: 74))
            try await PhaseFiveFixtures.enterPhaseFive(db)
            let ids = try await Self.programIDsInKeyOrder(db)
            try await PhaseFiveFixtures.edit(ids, with: Fixtures.repository(db, PhaseFiveFixtures.phaseFive))
            let held = try await HeldRow(db, programID: ids[3])
            let release = Task {
                try await Task.sleep(for: .seconds(1))
                try await held.release()
            }
            let legacy = try await Backfill(pool: db.pool).run(.legacy, options: .init(batchSize: 10))
            try await release.value
            #expect(legacy.status == .succeeded && legacy.counts.written == 30 && legacy.counts.reported == 0)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versioning_legacy_behind()") == 0)
        }
    }

    @Test func pauseAndResumeFromAnotherProcessHoldTheRunWithinOneBatch() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 2_000, seed: 74))
            try await BackfillFixtures.turnWritesOn(db)
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("pv-pause-\(UUID().uuidString)")
            let process = try CommandLineTool.start(["backfill", "programs", "--batch-size", "10", "--database-url", db.url], output: output)
            #expect(try await Wait.waitUntil { try await Self.run(db, "programs").seen >= 200 })

            let pause = try await CommandLineTool.run(["backfill", "pause", "--reason", "peak hour", "--database-url", db.url])
            #expect(pause.status == 0, "\(pause.stderr)")
            let atPause = try await Self.run(db, "programs").seen
            // Held within one batch: at most the batch in hand (10) and the one it was about to start.
            #expect(try await Wait.waitUntil(timeout: .seconds(10)) { try await Self.run(db, "programs").throttled?.contains("paused by") == true })
            let held = try await Self.run(db, "programs")
            try await Task.sleep(for: .seconds(1))
            let later = try await Self.run(db, "programs")
            #expect(held.seen - atPause <= 20, "\(held.seen - atPause) records after the pause")
            #expect(later.seen == held.seen && later.status == "RUNNING" && process.isRunning)
            #expect(later.throttled?.contains("peak hour") == true)
            let status = try await CommandLineTool.run(["backfill", "status", "--database-url", db.url])
            #expect(status.stdout.contains("backfills PAUSED") && status.stdout.contains("waiting: paused by"), "\(status.stdout)")

            // A live change of the batch size reaches the run at its next batch.
            let tune = try await CommandLineTool.run(["backfill", "tune", "--batch-size", "500", "--database-url", db.url])
            #expect(tune.status == 0)
            let resume = try await CommandLineTool.run(["backfill", "resume", "--database-url", db.url])
            #expect(resume.status == 0)
            #expect(try await Wait.waitUntil { !process.isRunning })
            #expect(process.terminationStatus == 0)
            let finished = try await db.pool.query("""
                SELECT status, seen, batch_size, throttled FROM backfill_runs WHERE kind = 'programs'
                """).single().decode((String, Int, Int?, String?).self)
            #expect(finished.0 == "SUCCEEDED" && finished.1 == 2_000 && finished.2 == 500 && finished.3 == nil)
            let stderr = try String(contentsOf: output.appendingPathExtension("stderr"), encoding: .utf8)
            #expect(stderr.contains("throttled: paused by"), "\(stderr)")
        }
    }

    @Test func sigtermFinishesTheBatchMarksTheRunInterruptedAndTheNextRunResumes() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 2_000, seed: 75))
            try await BackfillFixtures.turnWritesOn(db)
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("pv-term-\(UUID().uuidString)")
            let process = try CommandLineTool.start(["backfill", "programs", "--batch-size", "10", "--database-url", db.url], output: output)
            #expect(try await Wait.waitUntil { try await Self.run(db, "programs").seen >= 200 })
            process.terminate()  // SIGTERM
            #expect(try await Wait.waitUntil { !process.isRunning })
            #expect(process.terminationStatus == 2)
            let stderr = try String(contentsOf: output.appendingPathExtension("stderr"), encoding: .utf8)
            #expect(stderr.contains("SIGTERM: finishing the current batch") && stderr.contains("INTERRUPTED after its last committed batch"))
            let interrupted = try await Self.run(db, "programs")
            #expect(interrupted.status == "INTERRUPTED" && interrupted.seen < 2_000)
            #expect(interrupted.error?.contains("SIGTERM received") == true)
            // What the run row says is what the tables hold: every batch it counted committed.
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions") == interrupted.seen)
            let status = try await CommandLineTool.run(["backfill", "status", "--json", "--database-url", db.url])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            #expect((json["runs"] as? [[String: Any]])?.first?["state"] as? String == "INTERRUPTED")

            let resumed = try await CommandLineTool.run(["backfill", "programs", "--json", "--database-url", db.url])
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
            #expect(resumed.status == 0 && summary["resumed"] as? Bool == true && summary["status"] as? String == "SUCCEEDED")
            #expect(summary["seen"] as? Int == 2_000)
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs") == 1)
        }
    }

    @Test func aRunWhoseProcessIsGoneShowsAsStaleAndIsResumed() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 1_500, seed: 76))
            try await BackfillFixtures.turnWritesOn(db)
            let process = try CommandLineTool.start(["backfill", "programs", "--batch-size", "10", "--database-url", db.url])
            #expect(try await Wait.waitUntil { try await Self.run(db, "programs").seen >= 100 })
            kill(process.processIdentifier, SIGKILL)
            #expect(try await Wait.waitUntil { !process.isRunning })
            // Its row still says RUNNING; status knows better once the backend has gone.
            #expect(try await Self.run(db, "programs").status == "RUNNING")
            #expect(try await Wait.waitUntil {
                try await BackfillStatus.load(pool: db.pool).runs.first?.state == .stale
            })
            let status = try await CommandLineTool.run(["backfill", "status", "--database-url", db.url])
            #expect(status.stdout.contains("STALE programs run") && status.stdout.contains("its process is gone"), "\(status.stdout)")
            let resumed = try await CommandLineTool.run(["backfill", "programs", "--json", "--database-url", db.url])
            #expect(resumed.status == 0 && resumed.stdout.contains("\"resumed\" : true"), "\(resumed.stdout)")
        }
    }

    @Test func aBackfillOnAReadOnlyDatabaseIsRefusedBeforeItStarts() async throws {
        try await TestDatabase.withFresh { db in
            try await db.pool.query(PGQuery(unsafeSQL: "ALTER DATABASE \(db.name) SET default_transaction_read_only = on"))
            let out = try await CommandLineTool.run(["backfill", "programs", "--database-url", db.url])
            #expect(out.status == 2)
            #expect(out.stderr.contains("read-only") && out.stderr.contains("point --database-url at the primary"), "\(out.stderr)")
            #expect(!out.stderr.contains("run the same command again to resume"))
        }
    }

    @Test func aThrottleQueryHoldsTheRunWhileItSaysTrueAndABrokenOneIsRefusedUpFront() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 100, seed: 77))
            try await BackfillFixtures.turnWritesOn(db)
            try await db.pool.query("CREATE TABLE ops_signal (busy boolean)")
            try await db.pool.query("INSERT INTO ops_signal VALUES (true)")
            let broken = try await CommandLineTool.run([
                "backfill", "programs", "--throttle-query", "SELECT 'yes'", "--database-url", db.url,
            ])
            #expect(broken.status == 2 && broken.stderr.contains("--throttle-query must return one row whose first column is a boolean"))
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs") == 0)

            let process = try CommandLineTool.start([
                "backfill", "programs", "--batch-size", "10", "--throttle-query", "SELECT busy FROM ops_signal", "--database-url", db.url,
            ])
            #expect(try await Wait.waitUntil { try await Self.run(db, "programs").throttled == "the throttle query returned true" })
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await Self.run(db, "programs").seen == 0)
            // NULL, like false, lets the run go on.
            try await db.pool.query("UPDATE ops_signal SET busy = NULL")
            #expect(try await Wait.waitUntil { !process.isRunning })
            let done = try await Self.run(db, "programs")
            #expect(process.terminationStatus == 0 && done.status == "SUCCEEDED" && done.seen == 100)
        }
    }
}

/// The lock-convoy scenario with the app's latency held to under a second: timed, so it runs
/// with the timing-sensitive tests, after the rest (scripts/test).
@Suite("Backfills never make the app wait: the app's update beside a held row (alone)")
struct AppBesideBackfillTimingSensitiveTests {
    @Test func aRowHeldByAnotherTransactionIsSkippedAndTheAppNeverWaitsBehindTheBatch() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 600, seed: 71))
            try await BackfillFixtures.turnWritesOn(db)
            let ids = try await GentleBackfillTests.programIDsInKeyOrder(db)
            // The third batch (ids[100..<150]) meets ids[100], held by another transaction
            // for 8 s; the app updates ids[120], in the same batch, back to back the whole time.
            let held = try await GentleBackfillTests.HeldRow(db, programID: ids[100])
            let release = Task {
                try await Task.sleep(for: .seconds(8))
                try await held.release()
            }
            let done = GentleBackfillTests.Flag()
            let backfill = Task {
                defer { done.set() }
                return try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 50))
            }
            let app = try await GentleBackfillTests.appUpdates(db, programID: ids[120], lockWait: .seconds(2), until: done)
            let summary = try await backfill.value
            try await release.value

            // Before, the batch waited on ids[100] holding the rows it had locked, and the
            // app's update of ids[120] waited with it until the row was released (8 s here)
            // or its own 5 s statement timeout. Now it waits for a lock at most while one
            // batch of 50 commits (a tenth of a second); an app lock wait over 2 s is counted.
            #expect(app.lockWaitsTooLong == 0, "\(app.lockWaitsTooLong) app updates waited over 2 s for a lock")
            #expect(app.slowest < .seconds(1), "the app's slowest update took \(app.slowest)")
            #expect(app.count > 10)
            #expect(summary.status == .succeeded)
            #expect(summary.counts.seen == 600 && summary.counts.reported == 0)
            #expect(summary.counts.seen == summary.counts.migrated + summary.counts.unchanged + summary.counts.reported)
            // The held program was migrated once its lock went: the run came back for it.
            #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions WHERE program_id = \(ids[100])") == 1)
            #expect(try await BackfillFixtures.programsWithStaleOrMissingVersion(db).isEmpty)
        }
    }
}
