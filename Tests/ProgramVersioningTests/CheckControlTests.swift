import Foundation
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps
import TestSupport
import Testing

@Suite("The check under control: pause and resume from another process, interrupted and killed runs resumed")
struct CheckControlTests {
    typealias Wait = BackfillRobustnessTests

    static func progress(_ db: TestDatabase.Fresh) async throws -> (status: String, checked: Int, throttled: String?)? {
        try await db.pool.query("""
            SELECT status, programs_checked + sessions_checked, throttled FROM check_progress ORDER BY started_at DESC LIMIT 1
            """).first?.decode((String, Int, String?).self)
    }

    @Test func pauseAndResumeFromAnotherProcessHoldTheCheckBetweenPages() async throws {
        try await TestDatabase.withFresh { db in
            try await CheckTests.migratedDatabase(db, programs: 1_500)
            let process = try CommandLineTool.start(["check", "--page-size", "5", "--database-url", db.url])
            #expect(try await Wait.waitUntil { (try await Self.progress(db)?.checked ?? 0) >= 100 })
            let pause = try await CommandLineTool.run(["check", "pause", "--reason", "failover drill", "--database-url", db.url])
            #expect(pause.status == 0, "\(pause.stderr)")
            let atPause = try await Self.progress(db)?.checked ?? 0
            #expect(try await Wait.waitUntil(timeout: .seconds(10)) { try await Self.progress(db)?.throttled?.contains("failover drill") == true })
            // The other walks finish the page they have in hand.
            try await Task.sleep(for: .milliseconds(500))
            let held = try await Self.progress(db)?.checked ?? 0
            try await Task.sleep(for: .seconds(1))
            let later = try await Self.progress(db)
            // Three walks, each with at most the page in hand and the one it was starting (5 programs or their sessions).
            #expect(held - atPause <= 3 * 2 * 5 * 3, "\(held - atPause) records after the pause")
            #expect(later?.checked == held && process.isRunning)
            let status = try await CommandLineTool.run(["check", "status", "--database-url", db.url])
            #expect(status.stdout.contains("checks PAUSED") && status.stdout.contains("waiting: paused by"), "\(status.stdout)")

            _ = try await CommandLineTool.run(["check", "resume", "--database-url", db.url])
            #expect(try await Wait.waitUntil { !process.isRunning })
            #expect(process.terminationStatus == 0)
            let run = try await db.pool.query("SELECT status, programs_checked FROM check_runs").single().decode((String, Int).self)
            #expect(run.0 == "CLEAN" && run.1 == 1_500)
            #expect(try await Self.progress(db) == nil)
        }
    }

    @Test func anInterruptedCheckStopsAfterItsPagesAndTheNextOneResumesIt() async throws {
        try await TestDatabase.withFresh { db in
            try await CheckTests.migratedDatabase(db, programs: 1_500)
            // One known difference on each side of the key space, so the resumed run must carry findings over.
            try await db.pool.query("""
                UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '"Renamed behind the library"')
                 WHERE id IN ((SELECT id FROM programs ORDER BY id LIMIT 1), (SELECT id FROM programs ORDER BY id DESC LIMIT 1))
                """)
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("pv-check-term-\(UUID().uuidString)")
            let process = try CommandLineTool.start(["check", "--page-size", "5", "--format", "json", "--database-url", db.url], output: output)
            #expect(try await Wait.waitUntil { (try await Self.progress(db)?.checked ?? 0) >= 300 })
            process.terminate()
            #expect(try await Wait.waitUntil { !process.isRunning })
            #expect(process.terminationStatus == 2)
            let stderr = try String(contentsOf: output.appendingPathExtension("stderr"), encoding: .utf8)
            #expect(stderr.contains("stopped before the end (SIGTERM received); run it again to resume"), "\(stderr)")
            let stopped = try #require(try await Self.progress(db))
            let sessions = try await db.pool.query("SELECT count(*) FROM workout_sessions").single().decode(Int.self, at: 0)
            #expect(stopped.status == "INTERRUPTED" && stopped.checked < 1_500 + sessions)
            #expect(try await db.pool.query("SELECT count(*) FROM check_runs").single().decode(Int.self, at: 0) == 0)

            let resumed = try await CommandLineTool.run(["check", "--format", "json", "--database-url", db.url])
            #expect(resumed.status == 1, "\(resumed.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
            #expect(report["resumed"] as? Bool == true)
            #expect(report["programsChecked"] as? Int == 1_500 && report["sessionsChecked"] as? Int == sessions)
            #expect(report["differenceCount"] as? Int == 2, "\(report["differences"] ?? "-")")
            #expect(try await Self.progress(db) == nil)
            let run = try await db.pool.query("SELECT status, resumed, programs_checked FROM check_runs").single().decode((String, Bool?, Int).self)
            #expect(run.0 == "DIFFERENCES" && run.1 == true && run.2 == 1_500)
        }
    }

    @Test func aKilledCheckIsStaleAndResumedByTheSameLoginOnly() async throws {
        try await TestDatabase.withFresh { db in
            try await CheckTests.migratedDatabase(db, programs: 1_000)
            let process = try CommandLineTool.start(["check", "--page-size", "5", "--database-url", db.url])
            #expect(try await Wait.waitUntil { (try await Self.progress(db)?.checked ?? 0) >= 300 })
            kill(process.processIdentifier, SIGKILL)
            #expect(try await Wait.waitUntil { !process.isRunning })
            // Its heartbeat stops; a minute later it counts as gone (here: aged by hand).
            try await db.pool.query("UPDATE check_progress SET heartbeat_at = now() - interval '2 minutes'")
            let status = try await CheckStatus.load(pool: db.pool)
            #expect(status.unfinished.first?.state == .stale)

            // Another login does not take over (nor trust) someone else's progress.
            let role = "pv_checker_" + UUID().uuidString.prefix(8).lowercased()
            try await CheckTests.grantNightlyRole(role, in: db)
            let other = try await CommandLineTool.run(["check", "--format", "json", "--database-url", TestDatabase.url(for: db.name) + " user=\(role)"])
            let otherReport = try #require(try JSONSerialization.jsonObject(with: Data(other.stdout.utf8)) as? [String: Any])
            #expect(other.status == 0 && otherReport["resumed"] as? Bool == false)

            let resumed = try await CommandLineTool.run(["check", "--format", "json", "--database-url", db.url])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
            #expect(resumed.status == 0 && report["resumed"] as? Bool == true && report["programsChecked"] as? Int == 1_000)
        }
    }
}

@Suite("How far a check is: its slower part, not a count of records")
struct CheckRunProgressTests {
    @Test func theRunIsAsFarAsItsSlowerPart() {
        // Sessions are cheap and nearly done; programs are not: 90 % of the records is 81 % of the run.
        let progress = CheckRunProgress(
            programsChecked: 810, sessionsChecked: 990, programsTotal: 1_000, sessionsTotal: 1_000,
            programsAtStart: 0, sessionsAtStart: 0, elapsed: .seconds(81))
        #expect(progress.fractionDone == 0.81)
        // 190 programs left at 10 a second decide the time left, not the 10 sessions.
        #expect(progress.estimatedRemaining == .seconds(19))
    }

    @Test func aResumedRunPacesOnlyWhatThisProcessChecked() {
        let progress = CheckRunProgress(
            programsChecked: 950, sessionsChecked: 1_000, programsTotal: 1_000, sessionsTotal: 1_000,
            programsAtStart: 900, sessionsAtStart: 1_000, elapsed: .seconds(5))
        #expect(progress.fractionDone == 0.95)
        #expect(progress.estimatedRemaining == .seconds(5))
        // No sessions: that part counts as done.
        let noSessions = CheckRunProgress(
            programsChecked: 500, sessionsChecked: 0, programsTotal: 1_000, sessionsTotal: 0,
            programsAtStart: 500, sessionsAtStart: 0, elapsed: .seconds(1))
        #expect(noSessions.fractionDone == 0.5 && noSessions.estimatedRemaining == nil)
    }
}
