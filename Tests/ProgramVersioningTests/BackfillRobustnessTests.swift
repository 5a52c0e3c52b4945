import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import TestSupport
import Testing

@Suite("Backfill under kill and concurrent app writes; its CLI")
struct BackfillRobustnessTests {
    /// Waits (bounded) until `condition` holds, polling without blocking a thread.
    static func waitUntil(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    @Test func aRunKilledMidWayResumesAndEndsInTheStateOfAnUninterruptedRun() async throws {
        let options = LegacySeeder.Options(programs: 1_500, messyPercent: 30, seed: 41)
        // The reference: the same data backfilled without interruption.
        let reference = try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(options)
            try await BackfillFixtures.turnWritesOn(db)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 10))
            _ = try await Backfill(pool: db.pool).run(.sessions, options: .init(batchSize: 10))
            return try await BackfillFixtures.outcomeShape(db)
        }
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(options)
            try await BackfillFixtures.turnWritesOn(db)
            for kind in ["programs", "sessions"] {
                let process = try CommandLineTool.start(["backfill", kind, "--batch-size", "10", "--database-url", db.url])
                // Let some batches commit, then kill -9 in the middle of the run.
                let started = try await Self.waitUntil {
                    try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE kind = \(kind) AND seen >= 300") > 0
                }
                kill(process.processIdentifier, SIGKILL)
                #expect(started)
                #expect(try await Self.waitUntil { !process.isRunning })
                let (status, seen) = try await db.pool.query("SELECT status, seen FROM backfill_runs WHERE kind = \(kind)").single()
                    .decode((String, Int).self)
                #expect(status == "RUNNING" && seen < (kind == "programs" ? 1_500 : 3_000), "the kill came after the run finished")
                // The killed backend lets go of the backfill lock once it notices its client is gone.
                #expect(try await Self.waitUntil {
                    try await BackfillFixtures.count(db, """
                        SELECT count(*) FROM pg_locks
                         WHERE locktype = 'advisory' AND granted AND objid::text::int8 = \(0x7076_6261_636b_6669 & 0xFFFF_FFFF)
                           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        """) == 0
                })

                let resumed = try await CommandLineTool.run(["backfill", kind, "--batch-size", "10", "--json", "--database-url", db.url])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
                #expect(json["resumed"] as? Bool == true && json["status"] as? String == "SUCCEEDED")
                // One run, counted once: nothing redone, nothing skipped.
                #expect(json["seen"] as? Int == (kind == "programs" ? 1_500 : 3_000))
                #expect(try await BackfillFixtures.count(db, "SELECT count(*) FROM backfill_runs WHERE kind = \(kind)") == 1)
            }
            #expect(try await BackfillFixtures.outcomeShape(db) == reference)
        }
    }

    @Test func appSavesDuringTheBackfillLeaveNoDuplicateAndNoStaleVersion() async throws {
        try await TestDatabase.withFresh(maxConnections: 12) { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 1_200, messyPercent: 20, seed: 42))
            try await BackfillFixtures.turnWritesOn(db)
            let (saves, summary) = try await BackfillFixtures.appSavesDuring(db) {
                try await Backfill(pool: db.pool).run(.programs, options: .init(batchSize: 20))
            }
            #expect(saves >= 160 && summary.counts.seen == 1_200)
            #expect(summary.counts.seen == summary.counts.migrated + summary.counts.unchanged + summary.counts.reported)
        }
    }

    @Test func theCommandLinePrintsTheDesignedJSONAndPlainProgressLines() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 50, messyPercent: 50, seed: 43))
            let flip = try await CommandLineTool.run(["flags", "set", "PROGRAM_VERSIONING_WRITES", "on", "--database-url", db.url])
            #expect(flip.status == 0)
            for (kind, keys) in [("programs", ["migrated", "unchanged"]), ("sessions", ["linked", "alreadyLinked"])] {
                for dryRun in [true, false] {
                    let out = try await CommandLineTool.run(
                        ["backfill", kind, "--json", "--database-url", db.url] + (dryRun ? ["--dry-run"] : []))
                    #expect(out.status == 0, "\(out.stderr)")
                    let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
                    for key in ["runId", "dryRun", "seen", "reported", "status"] + keys { #expect(json[key] != nil, "\(kind) \(key)") }
                    let seen = json["seen"] as? Int ?? -1
                    #expect(seen == (json[keys[0]] as? Int ?? 0) + (json[keys[1]] as? Int ?? 0) + (json["reported"] as? Int ?? 0))
                    #expect(json["dryRun"] as? Bool == dryRun && json["status"] as? String == "SUCCEEDED")
                    // Not a terminal: progress is plain lines on stderr, stdout is only the JSON.
                    #expect(out.stderr.hasPrefix("backfill ") && !out.stderr.contains("\r"))
                }
            }
            let text = try await CommandLineTool.run(["backfill", "programs", "--database-url", db.url])
            #expect(text.stdout.contains("all sessions preserved: YES") && text.stdout.contains("all links valid: YES"))
            #expect(text.stdout.contains("versions created: 0"))
            let usage = try await CommandLineTool.run(["backfill", "programs", "--user", "nobody", "--database-url", db.url])
            #expect(usage.status == 64 && usage.stderr.contains("--user must be a UUID"))
        }
    }
}
