import Foundation
import Logging
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization
import TestSupport
import Testing

@Suite("Runtime flags: rules in the store, audit, CLI")
struct FlagRuleTests {
    static func store(_ db: TestDatabase.Fresh) -> FlagStore { FlagStore(pool: db.pool) }

    static func refusal(_ body: () async throws -> Void) async -> FlagChangeRefused.Rule? {
        do {
            try await body()
            return nil
        } catch let refused as FlagChangeRefused {
            return refused.rule
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    static func cleanCheck(_ db: TestDatabase.Fresh, status: String = "CLEAN", startedAgo: String = "0 seconds", userFilter: UUID? = nil) async throws {
        try await db.pool.query("""
            INSERT INTO check_runs (id, started_at, finished_at, status, user_filter)
            VALUES (\(UUID()), now() - \(startedAgo)::interval + interval '1 millisecond', now(), \(status), \(userFilter)::uuid)
            """)
    }

    @Test func everyAllowedAndRefusedTransition() async throws {
        try await TestDatabase.withFresh { db in
            let store = Self.store(db)
            func set(_ name: FlagName, _ on: Bool, percent: Int? = nil, force: Bool = false, reason: String? = nil) async throws {
                try await store.set(name, enabled: on, percent: percent, actor: "test", reason: reason, force: force)
            }
            // Phase 1: READS alone is refused.
            #expect(await Self.refusal { try await set(.reads, true) } == .readsNeedsWrites)
            // Phase 2.
            try await set(.writes, true)
            // READS needs a clean full check that started after WRITES went on.
            #expect(await Self.refusal { try await set(.reads, true) } == .readsNeedsCleanCheck)
            try await Self.cleanCheck(db, startedAgo: "1 hour")  // before WRITES went on
            try await Self.cleanCheck(db, status: "DIFFERENCES")
            try await Self.cleanCheck(db, userFilter: UUID())  // one user only
            #expect(await Self.refusal { try await set(.reads, true) } == .readsNeedsCleanCheck)
            #expect(await Self.refusal { try await set(.reads, true, force: true) } == .forceNeedsReason)
            try await Self.cleanCheck(db)
            try await set(.reads, true, percent: 10)
            #expect(try await store.snapshot() == FlagSnapshot(writes: true, reads: true, readPercent: 10))
            try await set(.reads, true, percent: 100)  // widening a rollout needs nothing more
            // Rollback order: WRITES off first is refused; READS off, then WRITES off.
            #expect(await Self.refusal { try await set(.writes, false) } == .writesOffNeedsReadsOff)
            try await set(.reads, false)
            try await set(.writes, false)
            #expect(try await store.snapshot() == FlagSnapshot(writes: false, reads: false, readPercent: 100))
            // After WRITES goes on again, the old clean check no longer counts.
            try await set(.writes, true)
            #expect(await Self.refusal { try await set(.reads, true) } == .readsNeedsCleanCheck)
            try await set(.reads, true, force: true, reason: "checker verified by hand")
            // Every successful flip left exactly one audit row, refused ones none.
            let history = try await store.history()
            #expect(history.map(\.name) == [
                "PROGRAM_VERSIONING_READS", "PROGRAM_VERSIONING_WRITES", "PROGRAM_VERSIONING_WRITES", "PROGRAM_VERSIONING_READS",
                "PROGRAM_VERSIONING_READS", "PROGRAM_VERSIONING_READS", "PROGRAM_VERSIONING_WRITES",
            ])
            #expect(history.map(\.newEnabled) == [true, true, false, false, true, true, true])
            #expect(history.first?.forced == true && history.first?.reason == "checker verified by hand" && history.first?.actor == "test")
        }
    }

    @Test func aHandWrittenUpdateIsHeldToTheRulesAndAudited() async throws {
        try await TestDatabase.withFresh { db in
            await #expect(throws: PGError.self) {
                try await db.pool.query("UPDATE runtime_flags SET enabled = true WHERE name = 'PROGRAM_VERSIONING_READS'")
            }
            try await db.pool.query("UPDATE runtime_flags SET enabled = true WHERE name = 'PROGRAM_VERSIONING_WRITES'")
            await #expect(throws: PGError.self) { try await db.pool.query("DELETE FROM runtime_flags") }
            let audit = try await Self.store(db).history()
            #expect(audit.count == 1 && audit[0].name == "PROGRAM_VERSIONING_WRITES" && audit[0].actor == "postgres")
        }
    }

    @Test func theAuditIsAppendOnlyNamesTheRealLoginAndSkipsFlipsThatChangeNothing() async throws {
        try await TestDatabase.withFresh { db in
            let store = Self.store(db)
            // The declared actor is any text; the login beside it is the database's.
            try await store.set(.writes, enabled: true, actor: "alice (spoofed)", reason: "phase 2", force: false)
            let entry = try #require(try await store.history().first)
            #expect(entry.actor == "alice (spoofed)" && entry.login == "postgres")
            // Nobody changes or removes the trail, not even a superuser.
            for statement: PGQuery in [
                "UPDATE runtime_flag_audit SET actor = 'someone else'", "DELETE FROM runtime_flag_audit", "TRUNCATE runtime_flag_audit",
            ] {
                do {
                    try await db.pool.query(statement)
                    Issue.record("\(statement.sql) should be refused")
                } catch {
                    #expect((error as? PGError)?.sqlState == "23001", "\(statement.sql): \(error)")
                }
            }
            #expect(try await store.history().count == 1)
            // A flip to the state the flag is in changes nothing and audits nothing.
            let again = try await CommandLineTool.run(["flags", "set", "writes", "on", "--database-url", db.url])
            #expect(again.status == 0 && again.stdout.contains("nothing changed"))
            #expect(try await store.history().count == 1)
            // --force needs --reason on every flip, also where nothing needed forcing.
            #expect(await Self.refusal { try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: true) } == .forceNeedsReason)
            let shown = try await CommandLineTool.run(["flags", "history", "--database-url", db.url])
            #expect(shown.stdout.contains("by alice (spoofed) (login postgres)"))
        }
    }

    @Test func aCleanRowTheNightlyRoleForgesOpensNoGateAndTheStoreChecksTheDataItself() async throws {
        try await TestDatabase.withFresh { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 30, seed: 121))
            let store = Self.store(db)
            try await store.set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            let nightly = "pv_nightly_" + UUID().uuidString.prefix(8).lowercased()
            try await db.pool.query(PGQuery(unsafeSQL: "CREATE ROLE \(nightly) LOGIN"))
            defer { Task { try? await TestDatabase.admin { try await $0.query(PGQuery(unsafeSQL: "DROP ROLE IF EXISTS \(nightly)")) } } }
            try await db.pool.query(PGQuery(unsafeSQL: "GRANT CONNECT ON DATABASE \(db.name) TO \(nightly)"))
            try await RoleGrants.apply(app: nightly, operator: "postgres", nightly: nightly, pool: db.pool)
            let asNightly = PGPool(.init(connectionString: TestDatabase.url(for: db.name) + " user=\(nightly)", maxConnections: 3))
            // The forgery: a CLEAN row, even one claiming another recorder; and a real check run as the nightly role.
            try await asNightly.query("""
                INSERT INTO check_runs (id, status, started_at, finished_at, recorded_by)
                VALUES (gen_random_uuid(), 'CLEAN', now(), now(), 'postgres')
                """)
            let nightlyRun = try await ConsistencyCheck(pool: asNightly).run()
            await asNightly.close()
            #expect(nightlyRun.isClean)
            let recorders = try await db.pool.query("SELECT DISTINCT recorded_by FROM check_runs").map { try $0.decode(String.self, at: 0) }
            #expect(recorders == [nightly], "the database, not the client, says who recorded a run")
            do {
                try await store.set(.reads, enabled: true, actor: "test", reason: nil, force: false)
                Issue.record("READS went on on the nightly role's word")
            } catch let refused as FlagChangeRefused {
                #expect(refused.rule == .readsNeedsCleanCheck && refused.message.contains("recorded by a role that may flip flags"))
            }
            // The run history is evidence too: nobody edits it.
            await #expect(throws: PGError.self) { try await db.pool.query("UPDATE check_runs SET status = 'CLEAN'") }
            await #expect(throws: PGError.self) { try await db.pool.query("DELETE FROM check_runs") }

            // An operator's clean run counts, but the store checks the data itself too: a
            // program changed behind the library's back after the check keeps READS off.
            _ = try await ConsistencyCheck(pool: db.pool).run()
            try await db.pool.query("""
                UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '"changed behind its back"')
                 WHERE id = (SELECT min(id::text)::uuid FROM programs)
                """)
            do {
                try await store.set(.reads, enabled: true, actor: "test", reason: nil, force: false)
                Issue.record("READS went on over a program changed after its version")
            } catch let refused as FlagChangeRefused {
                #expect(refused.rule == .readsNeedsCleanCheck && refused.message.contains("1 programs whose legacy JSON changed"), "\(refused)")
            }
            // The same content written again (a new row revision, nothing changed): the backfill
            // records that the version still holds it, and the gate opens.
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            try await db.pool.query("UPDATE programs SET program_json = program_json || '{}' WHERE id = (SELECT max(id::text)::uuid FROM programs)")
            _ = try await ConsistencyCheck(pool: db.pool).run()
            #expect(await Self.refusal { try await store.set(.reads, enabled: true, actor: "test", reason: nil, force: false) } == .readsNeedsCleanCheck)
            _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            try await store.set(.reads, enabled: true, actor: "test", reason: nil, force: false)
        }
    }

    @Test func twoOperatorsFlippingOppositeWaysAtOnceEndInAValidState() async throws {
        try await TestDatabase.withFresh { db in
            let store = Self.store(db)
            for round in 0..<6 {
                // Start from phase 4, or from phase 2, and race the two opposite moves.
                try await store.set(.writes, enabled: true, actor: "setup", reason: nil, force: false)
                let phase4 = round % 2 == 0
                try await store.set(.reads, enabled: phase4, actor: "setup", reason: "race test", force: true)
                let url = db.url
                let moves: [[String]] = phase4
                    ? [["flags", "set", "writes", "off"], ["flags", "set", "reads", "off"]]
                    : [["flags", "set", "writes", "off"], ["flags", "set", "reads", "on", "--force", "--reason", "race"]]
                let outcomes = try await withThrowingTaskGroup(of: Int32.self) { group in
                    for move in moves {
                        group.addTask { try await CommandLineTool.run(move + ["--database-url", url]).status }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.allSatisfy { $0 == 0 || $0 == 1 }, "a flip either happens or is refused: \(outcomes)")
                let snapshot = try await store.snapshot()
                #expect(!(snapshot.reads && !snapshot.writes), "round \(round) ended with READS on and WRITES off")
                if snapshot.reads { try await store.set(.reads, enabled: false, actor: "reset", reason: nil, force: false) }
                if snapshot.writes { try await store.set(.writes, enabled: false, actor: "reset", reason: nil, force: false) }
            }
        }
    }

    @Test func theCLIRefusesWithOneLineAndExitOne() async throws {
        try await TestDatabase.withFresh { db in
            let refused = try await CommandLineTool.run(["flags", "set", "PROGRAM_VERSIONING_READS", "on", "--database-url", db.url])
            #expect(refused.status == 1)
            #expect(refused.stderr.split(separator: "\n").count == 1)
            #expect(refused.stderr.contains("READS_NEEDS_WRITES") && refused.stderr.contains("turn PROGRAM_VERSIONING_WRITES on first"))
            let flipped = try await CommandLineTool.run(["flags", "set", "writes", "on", "--actor", "alice", "--reason", "phase 2", "--database-url", db.url])
            #expect(flipped.status == 0 && flipped.stdout.contains("PROGRAM_VERSIONING_WRITES: off -> on"))
            let shown = try await CommandLineTool.run(["flags", "show", "--json", "--database-url", db.url])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: [String: Any]])
            #expect(json["PROGRAM_VERSIONING_WRITES"]?["enabled"] as? Bool == true)
            #expect(json["PROGRAM_VERSIONING_READS"]?["enabled"] as? Bool == false)
            #expect(json["PROGRAM_VERSIONING_READS"]?["percent"] as? Int == 0)
            let history = try await CommandLineTool.run(["flags", "history", "--json", "--database-url", db.url])
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]])
            #expect(entries.count == 1 && entries[0]["actor"] as? String == "alice" && entries[0]["reason"] as? String == "phase 2")
            let usage = try await CommandLineTool.run(["flags", "set", "sideways", "on", "--database-url", db.url])
            #expect(usage.status == 64)
        }
    }
}

/// What a watched process printed so far.
final class WatchedLines: Sendable {
    private let buffer = Mutex("")
    var text: String { buffer.withLock { $0 } }
    func append(_ chunk: String) { buffer.withLock { $0 += chunk } }
}

/// Run alone after the rest (scripts/test), like the driver's timing tests: "within a
/// second" must not depend on a 100k-program seed running next to it.
@Suite("Runtime flags: every instance follows the store")
struct FlagPropagationTimingSensitiveTests {
    @Test func flagsWatchPrintsEachChangeAsItHappens() async throws {
        try await TestDatabase.withFresh { db in
            let process = Process()
            process.executableURL = CommandLineTool.binary
            process.arguments = ["flags", "watch", "--for", "60", "--database-url", db.url]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            let lines = WatchedLines()
            try process.run()
            let reader = pipe.fileHandleForReading
            Thread {
                while case let data = reader.availableData, !data.isEmpty { lines.append(String(decoding: data, as: UTF8.self)) }
            }.start()
            defer { process.terminate() }
            // Flip only once the watcher follows the store (its first line), however slow its start.
            try await Self.waitUntil(.seconds(30)) { lines.text.contains("\n") }
            #expect(lines.text.contains("PROGRAM_VERSIONING_WRITES=off"))
            try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            try await Self.waitUntil(.seconds(10)) { lines.text.contains("PROGRAM_VERSIONING_WRITES=on") }
        }
    }

    @Test func aFlipIsSeenByAnotherProcessSourceWithinASecond() async throws {
        try await TestDatabase.withFresh { db in
            let source = DatabaseFlagSource(connectionString: db.url, logger: Logger(label: "test"), refreshInterval: .seconds(60))
            #expect(source.current() == .legacy, "never loaded: the safe default")
            try await whileRunning(source) {
                try await Self.waitUntil(.seconds(5)) { source.isLoaded }
                let outcome = try await CommandLineTool.run(["flags", "set", "writes", "on", "--database-url", db.url])
                #expect(outcome.status == 0)
                // The CLI returned after its commit: from there, one second at most.
                try await Self.waitUntil(.seconds(1)) { source.current().writes }
            }
        }
    }

    @Test func anUnreachableStoreKeepsTheValuesAndRecoversOnItsOwn() async throws {
        try await TestDatabase.withFresh { db in
            let source = DatabaseFlagSource(connectionString: db.url, logger: Logger(label: "test"), refreshInterval: .milliseconds(300))
            try await whileRunning(source) {
                try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: nil, force: false)
                try await Self.waitUntil(.seconds(2)) { source.current().writes }
                // The database goes away: no new connections, existing ones killed.
                try await TestDatabase.admin { admin in
                    try await admin.query(PGQuery(unsafeSQL: "ALTER DATABASE \"\(db.name)\" ALLOW_CONNECTIONS false"))
                    try await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(db.name) AND pid <> pg_backend_pid()")
                }
                try await Task.sleep(for: .seconds(1))
                #expect(source.current() == FlagSnapshot(writes: true, reads: false, readPercent: 0), "last values kept")
                // Back, and a flip made meanwhile is picked up.
                try await TestDatabase.admin { admin in
                    try await admin.query(PGQuery(unsafeSQL: "ALTER DATABASE \"\(db.name)\" ALLOW_CONNECTIONS true"))
                }
                let pool = PGPool(.init(connectionString: db.url, maxConnections: 1))
                try await FlagStore(pool: pool).set(.writes, enabled: false, actor: "test", reason: nil, force: false)
                await pool.close()
                try await Self.waitUntil(.seconds(5)) { !source.current().writes }
            }
        }
    }

    static func waitUntil(_ limit: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("not within \(limit)")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
