import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport
import Testing

/// Against a real hot standby of a primary (`scripts/replica`): the check reads it, a
/// backfill is refused there, and a backfill on the primary waits while the standby lags.
@Suite("A hot standby: the check reads it and records on the primary; backfills wait while it lags")
struct StandbyTests {
    static func prepare(_ db: ReplicaPair.Fresh, programs: Int, backfilled: Bool) async throws {
        _ = try await LegacySeeder(pool: db.pool).seed(.init(programs: programs, seed: 81))
        try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: "phase 2", force: false)
        if backfilled {
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            _ = try await Backfill(pool: db.pool).run(.sessions, options: .init())
        }
        try await db.standbyCaughtUp()
    }

    static func json(_ outcome: CommandLineTool.Outcome) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any], "\(outcome.stdout) \(outcome.stderr)")
    }

    @Test func theCheckReadsTheStandbyAndRecordsItsRunOnThePrimaryGiven() async throws {
        try await ReplicaPair.withFresh { db in
            try await Self.prepare(db, programs: 60, backfilled: true)

            // Before: the check walked every row, then failed on INSERT in a read-only transaction.
            let unrecorded = try await CommandLineTool.run(["check", "--format", "json", "--database-url", db.standbyURL])
            #expect(unrecorded.status == 0, "\(unrecorded.stderr)")
            let report = try Self.json(unrecorded)
            #expect(report["programsChecked"] as? Int == 60 && report["differenceCount"] as? Int == 0)
            #expect(report["stored"] as? Bool == false && (report["readFrom"] as? String)?.hasPrefix("standby") == true)
            #expect(unrecorded.stderr.contains("the run was not stored") && unrecorded.stderr.contains("--record-url"))
            #expect(try await db.pool.query("SELECT count(*) FROM check_runs").single().decode(Int.self, at: 0) == 0)

            let recorded = try await CommandLineTool.run([
                "check", "--format", "json", "--database-url", db.standbyURL, "--record-url", db.primaryURL,
            ])
            #expect(recorded.status == 0, "\(recorded.stderr)")
            let stored = try Self.json(recorded)
            #expect(stored["stored"] as? Bool == true && stored["programsChecked"] as? Int == 60)
            let row = try await db.pool.query("""
                SELECT id::text, status, programs_checked, read_from, data_as_of IS NOT NULL, recorded_by FROM check_runs
                """).single().decode((String, String, Int, String?, Bool, String?).self)
            #expect(row.0 == stored["runId"] as? String && row.1 == "CLEAN" && row.2 == 60)
            #expect(row.3?.hasPrefix("standby 127.0.0.1:") == true && row.4 && row.5 == "postgres")
            // Nothing of the run is left behind as progress.
            #expect(try await db.pool.query("SELECT count(*) FROM check_progress").single().decode(Int.self, at: 0) == 0)

            let text = try await CommandLineTool.run(["check", "--database-url", db.standbyURL, "--record-url", db.primaryURL])
            #expect(text.stdout.contains("read from standby") && text.stdout.contains("data as of"), "\(text.stdout)")
            let wrongTarget = try await CommandLineTool.run(["check", "--database-url", db.standbyURL, "--record-url", db.standbyURL])
            #expect(wrongTarget.status == 2 && wrongTarget.stderr.contains("cannot record the run with --record-url: it is read-only too"))
        }
    }

    @Test func aBackfillIsRefusedOnTheStandbyWithWhatToDo() async throws {
        try await ReplicaPair.withFresh { db in
            try await Self.prepare(db, programs: 10, backfilled: false)
            let refused = try await CommandLineTool.run(["backfill", "programs", "--database-url", db.standbyURL])
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("hot standby") && refused.stderr.contains("point --database-url at the primary"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("run the same command again to resume"))
        }
    }

    @Test func aBackfillWaitsWhileTheStandbyLagsAndGoesOnWhenItCatchesUp() async throws {
        try await ReplicaPair.withFresh { db in
            try await Self.prepare(db, programs: 2_000, backfilled: false)
            try await db.standbyPool.query("SELECT pg_wal_replay_pause()")
            do {
                let output = FileManager.default.temporaryDirectory.appendingPathComponent("pv-lag-\(UUID().uuidString)")
                let process = try CommandLineTool.start([
                    "backfill", "programs", "--batch-size", "10", "--max-replica-lag", "500ms", "--database-url", db.primaryURL,
                ], output: output)
                func run() async throws -> (seen: Int, throttled: String?) {
                    try await db.pool.query("SELECT seen, throttled FROM backfill_runs").first?.decode((Int, String?).self) ?? (0, nil)
                }
                #expect(try await BackfillRobustnessTests.waitUntil(timeout: .seconds(30)) {
                    try await run().throttled?.hasPrefix("replica lag") == true
                })
                let held = try await run()
                try await Task.sleep(for: .seconds(1))
                let later = try await run()
                #expect(held.seen < 2_000 && later.seen == held.seen, "the run went on while the standby lagged: \(held.seen) -> \(later.seen)")
                #expect(later.throttled?.contains("limit 0.5 s") == true, "\(later.throttled ?? "-")")

                try await db.standbyPool.query("SELECT pg_wal_replay_resume()")
                #expect(try await BackfillRobustnessTests.waitUntil(timeout: .seconds(60)) { !process.isRunning })
                #expect(process.terminationStatus == 0)
                let done = try await db.pool.query("SELECT status, seen, throttled, throttled_seconds FROM backfill_runs").single()
                    .decode((String, Int, String?, Double?).self)
                #expect(done.0 == "SUCCEEDED" && done.1 == 2_000 && done.2 == nil && (done.3 ?? 0) >= 1)
                let stdout = try String(contentsOf: output.appendingPathExtension("stdout"), encoding: .utf8)
                #expect(stdout.contains("waited on throttle signals"), "\(stdout)")
            } catch {
                _ = try? await db.standbyPool.query("SELECT pg_wal_replay_resume()")
                throw error
            }
            _ = try? await db.standbyPool.query("SELECT pg_wal_replay_resume()")
        }
    }
}
