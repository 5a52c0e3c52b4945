import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport
import Testing

/// Gates judge fresh evidence (issue 19): a clean check within the flag's max check age,
/// for READS on and every higher percent, and no newer STALE/MISSING finding.
@Suite("Flag gates on fresh evidence, dry runs, the WRITES-off warning")
struct FreshEvidenceGateTests {
    static func refusal(_ body: () async throws -> Void) async -> FlagChangeRefused? {
        do {
            try await body()
            return nil
        } catch let refused as FlagChangeRefused {
            return refused
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    static func auditRows(_ db: TestDatabase.Fresh) async throws -> Int {
        try await BackfillFixtures.count(db, "SELECT count(*) FROM runtime_flag_audit")
    }

    @Test func aCheckOlderThanTheMaxCheckAgeIsRefusedWithItsAge() async throws {
        try await TestDatabase.withFresh { db in
            let store = FlagStore(pool: db.pool)
            try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            // A shorter age needs no reason: it asks for more.
            try await store.set(.reads, enabled: false, maxCheckAge: .seconds(2), actor: "test", reason: nil, force: false)
            #expect(try await store.states().first { $0.name == .reads }?.maxCheckAge == .seconds(2))
            try await FlagRuleTests.cleanCheck(db)
            try await Task.sleep(for: .milliseconds(2_500))
            let refused = await Self.refusal { try await store.set(.reads, enabled: true, percent: 5, actor: "test", reason: nil, force: false) }
            #expect(refused?.rule == .readsNeedsCleanCheck)
            #expect(refused?.message.contains("longer ago than the 2 s this flag accepts") == true, "\(String(describing: refused))")
            #expect(refused?.message.contains(" s ago") == true)
            // A fresh check lets it through.
            try await FlagRuleTests.cleanCheck(db)
            try await store.set(.reads, enabled: true, percent: 5, actor: "test", reason: nil, force: false)
        }
    }

    @Test func everyHigherPercentNeedsFreshEvidenceAndLoweringNeedsNone() async throws {
        try await TestDatabase.withFresh { db in
            let store = FlagStore(pool: db.pool)
            try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            try await FlagRuleTests.cleanCheck(db)
            try await store.set(.reads, enabled: true, percent: 5, maxCheckAge: .seconds(2), actor: "test", reason: nil, force: false)
            try await Task.sleep(for: .milliseconds(2_500))
            let refused = await Self.refusal { try await store.set(.reads, enabled: true, percent: 25, actor: "test", reason: nil, force: false) }
            #expect(refused?.rule == .readsNeedsCleanCheck)
            #expect(try await store.snapshot().readPercent == 5, "a refused flip changes nothing")
            // Going back needs no evidence.
            try await store.set(.reads, enabled: true, percent: 1, actor: "test", reason: nil, force: false)
            try await store.set(.reads, enabled: false, actor: "test", reason: nil, force: false)
            // A longer max check age accepts older evidence: it must say why, and is audited.
            let loosened = await Self.refusal {
                try await store.set(.reads, enabled: false, maxCheckAge: .seconds(3_600), actor: "test", reason: nil, force: false)
            }
            #expect(loosened?.rule == .maxCheckAgeNeedsReason)
            try await store.set(.reads, enabled: false, maxCheckAge: .seconds(3_600), actor: "test", reason: "nightly checks only", force: false)
            let newest = try await store.history(limit: 1).first
            #expect(newest?.newMaxCheckAge == .seconds(3_600) && newest?.reason == "nightly checks only")
            try await store.set(.reads, enabled: true, percent: 25, actor: "test", reason: nil, force: false)
        }
    }

    @Test func aNewerRunThatFoundStaleOrMissingVersionsHoldsTheGate() async throws {
        try await TestDatabase.withFresh { db in
            let store = FlagStore(pool: db.pool)
            try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            try await FlagRuleTests.cleanCheck(db)
            // A later run (any recorder: a report of trouble can only hold a flip back).
            try await db.pool.query("""
                INSERT INTO check_runs (id, started_at, finished_at, status, counts_by_kind, difference_count)
                VALUES (\(UUID()), now(), now() + interval '1 millisecond', 'DIFFERENCES', '{"STALE_VERSION": 3}', 3)
                """)
            let refused = await Self.refusal { try await store.set(.reads, enabled: true, actor: "test", reason: nil, force: false) }
            #expect(refused?.rule == .readsNeedsCleanCheck)
            #expect(refused?.message.contains("found 3 STALE_VERSION and 0 MISSING_VERSION") == true, "\(String(describing: refused))")
        }
    }

    @Test func aDryRunPrintsTheRulesAndTheVerdictAndChangesNothing() async throws {
        try await TestDatabase.withFresh { db in
            let store = FlagStore(pool: db.pool)
            try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            let audited = try await Self.auditRows(db)
            // Refused: no clean check.
            let refused = try await CommandLineTool.run(["flags", "set", "reads", "on", "--percent", "5", "--dry-run", "--database-url", db.url])
            #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stdout.contains("dry run: PROGRAM_VERSIONING_READS off -> on (5 %)"))
            #expect(refused.stdout.contains("pass         READS_NEEDS_WRITES"))
            #expect(refused.stdout.contains("REFUSED      READS_NEEDS_CLEAN_CHECK: no clean consistency run"))
            #expect(refused.stdout.contains("verdict: refused (READS_NEEDS_CLEAN_CHECK)"))
            #expect(try await store.snapshot() == FlagSnapshot(writes: true, reads: false, readPercent: 0))
            // Allowed: a clean check; still nothing changes.
            try await FlagRuleTests.cleanCheck(db)
            let allowed = try await CommandLineTool.run(["flags", "set", "reads", "on", "--percent", "5", "--dry-run", "--database-url", db.url])
            #expect(allowed.status == 0, "\(allowed.stdout)\(allowed.stderr)")
            #expect(allowed.stdout.contains("pass         READS_NEEDS_CLEAN_CHECK"))
            #expect(allowed.stdout.contains(" s ago; this flag accepts 24 h"), "\(allowed.stdout)")
            #expect(allowed.stdout.contains("verdict: allowed: PROGRAM_VERSIONING_READS would be on at 5 %"))
            #expect(try await store.snapshot() == FlagSnapshot(writes: true, reads: false, readPercent: 0))
            #expect(try await Self.auditRows(db) == audited, "a dry run audits nothing")
            // The library's dry run says the same.
            let verdict = try await store.dryRun(.reads, enabled: true, percent: 5, actor: "test", reason: nil, force: false)
            guard case .success(let would) = verdict.verdict else { Issue.record("refused: \(verdict.verdict)"); return }
            #expect(would.enabled && would.percent == 5)
        }
    }

    @Test func turningWritesOffWarnsWhatItImpliesAndHowToComeBack() async throws {
        try await TestDatabase.withFresh { db in
            try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            let dry = try await CommandLineTool.run(["flags", "set", "writes", "off", "--dry-run", "--database-url", db.url])
            #expect(dry.status == 0 && dry.stdout.contains("leaves its latest version stale"), "\(dry.stdout)")
            let off = try await CommandLineTool.run(["flags", "set", "writes", "off", "--database-url", db.url])
            #expect(off.status == 0, "\(off.stderr)")
            #expect(off.stderr.contains("warning: with PROGRAM_VERSIONING_WRITES off"))
            #expect(off.stderr.contains("then backfill programs"))
            // Turning it on says nothing of the sort.
            let on = try await CommandLineTool.run(["flags", "set", "writes", "on", "--database-url", db.url])
            #expect(on.status == 0 && on.stderr.isEmpty, "\(on.stderr)")
        }
    }
}
