import Foundation
import Logging
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport
import Testing

/// `program-versioning status` answers "which phase are we in, and is it safe to go on?"
/// in every phase, and the CLI's first five minutes go as an operator expects.
@Suite("Rollout status and the CLI's first five minutes")
struct RolloutStatusTests {
    static func status(_ db: TestDatabase.Fresh) async throws -> [String: Any] {
        let outcome = try await CommandLineTool.run(["status", "--json", "--database-url", db.url])
        try #require(outcome.status == 0, "\(outcome.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    }

    static func nextStep(_ object: [String: Any]) -> (allowed: Bool, command: String?, reason: String?, then: String?) {
        let next = object["nextStep"] as? [String: Any] ?? [:]
        return (next["allowed"] as? Bool ?? false, next["command"] as? String, next["reason"] as? String, next["then"] as? String)
    }

    @Test func statusJSONInEveryPhaseNamesTheNextAllowedStep() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 12, seed: 7, sessionsPerProgram: 1))
            let store = FlagStore(pool: db.pool)

            // Phase 1: nothing checked yet; WRITES on is the step, allowed.
            var status = try await Self.status(db)
            #expect(status["phase"] as? Int == 1)
            #expect(status["lastCheck"] is NSNull)
            let flags = status["flags"] as? [String: [String: Any]]
            #expect(flags?["PROGRAM_VERSIONING_WRITES"]?["enabled"] as? Bool == false)
            #expect(flags?["PROGRAM_VERSIONING_READS"]?["percent"] as? Int == 0)
            #expect(flags?["PROGRAM_VERSIONING_LEGACY_READONLY"]?["enabled"] as? Bool == false)
            var next = Self.nextStep(status)
            #expect(next.allowed && next.command?.contains("flags set PROGRAM_VERSIONING_WRITES on") == true)
            #expect((status["followers"] as? [String: Any])?["count"] as? Int == 0)

            // An app instance following the store is counted, by its listening connection.
            let source = DatabaseFlagSource(connectionString: db.url + " application_name=api", logger: Logger(label: "test"))
            let following = Task { await source.run() }
            let deadline = ContinuousClock.now + .seconds(5)
            while !source.isLoaded, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            status = try await Self.status(db)
            #expect((status["followers"] as? [String: Any])?["count"] as? Int == 1)
            #expect((status["followers"] as? [String: Any])?["applications"] as? [String] == ["api"])
            following.cancel()
            await following.value

            // Phase 2-3: the backfills come first, then a clean check.
            try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            status = try await Self.status(db)
            #expect(status["phase"] as? Int == 2)
            next = Self.nextStep(status)
            #expect(!next.allowed && next.then == "program-versioning backfill programs", "\(next)")
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            next = Self.nextStep(try await Self.status(db))
            #expect(!next.allowed && next.then == "program-versioning backfill sessions", "\(next)")
            _ = try await Backfill(pool: db.pool).run(.sessions, options: .init())
            next = Self.nextStep(try await Self.status(db))
            #expect(!next.allowed && next.reason?.contains("no clean consistency run") == true && next.then?.contains("check") == true)
            try await PhaseFiveFixtures.requireCleanCheck(db)
            status = try await Self.status(db)
            let lastCheck = status["lastCheck"] as? [String: Any]
            #expect(lastCheck?["clean"] as? Bool == true && lastCheck?["countsAsEvidence"] as? Bool == true)
            #expect((lastCheck?["ageSeconds"] as? Int).map { $0 >= 0 && $0 < 60 } == true)
            #expect(lastCheck?["finishedAt"] is String)
            next = Self.nextStep(status)
            #expect(next.allowed && next.command == "program-versioning flags set PROGRAM_VERSIONING_READS on --percent 5", "\(next)")
            #expect((status["backfillRuns"] as? [[String: Any]])?.count == 2)

            // Phase 4: the next percent, then LEGACY_READONLY after a check since READS reached 100 %.
            try await store.set(.reads, enabled: true, percent: 5, actor: "test", reason: nil, force: false)
            status = try await Self.status(db)
            #expect(status["phase"] as? Int == 4)
            #expect(Self.nextStep(status).command == "program-versioning flags set PROGRAM_VERSIONING_READS on --percent 25")
            try await store.set(.reads, enabled: true, percent: 100, actor: "test", reason: nil, force: false)
            next = Self.nextStep(try await Self.status(db))
            #expect(!next.allowed && next.reason?.contains("since PROGRAM_VERSIONING_READS reached 100 %") == true, "\(next)")
            try await PhaseFiveFixtures.requireCleanCheck(db)
            next = Self.nextStep(try await Self.status(db))
            #expect(next.allowed && next.command?.contains("PROGRAM_VERSIONING_LEGACY_READONLY on") == true, "\(next)")

            // Phase 5: done, retirement after the rollback window.
            try await store.set(.legacyReadOnly, enabled: true, actor: "test", reason: "phase 5", force: false)
            status = try await Self.status(db)
            #expect(status["phase"] as? Int == 5)
            next = Self.nextStep(status)
            #expect(!next.allowed && next.reason?.contains("rollout is complete") == true && next.then?.contains("legacy retire") == true)

            // The text form: one line per subject, the next step last.
            let text = try await CommandLineTool.run(["status", "--database-url", db.url])
            #expect(text.status == 0)
            let lines = text.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("phase      5") == true && lines.count < 15, "\(text.stdout)")
            #expect(text.stdout.contains("next       not yet: the rollout is complete"))
        }
    }

    @Test func aDatabaseNotYetMigratedSaysRunMigrateUpFirstEverywhere() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            for arguments in [["flags", "show"], ["check"], ["backfill", "programs"], ["status"], ["flags", "set", "writes", "on"]] {
                let outcome = try await CommandLineTool.run(arguments + ["--database-url", db.url])
                CommandLineErrorTests.expectOneCleanLine(outcome, mentions: ["not migrated", "migrate up first"])
                #expect(!outcome.stderr.contains("42P01") && !outcome.stderr.contains("resume"), "\(arguments): \(outcome.stderr)")
            }
        }
    }

    @Test func noSubcommandIsAUsageErrorAfterTheHelp() async throws {
        for arguments in [[], ["flags"], ["backfill"]] {
            let outcome = try await CommandLineTool.run(arguments)
            #expect(outcome.status == 64, "\(arguments): \(outcome.status)")
            #expect(outcome.stderr.contains("USAGE:") && outcome.stderr.contains("name a subcommand"))
        }
    }

    @Test func connectionOptionsGoBeforeOrAfterTheSubcommand() async throws {
        try await TestDatabase.withFresh { db in
            for arguments in [["--database-url", db.url, "migrate", "status"], ["migrate", "status", "--database-url", db.url],
                              ["--database-url=\(db.url)", "flags", "show", "--json"]] {
                let outcome = try await CommandLineTool.run(arguments)
                #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
            }
        }
    }
}
