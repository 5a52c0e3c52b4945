import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramSeeding
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import Synchronization
import TestSupport
import Testing

@Suite("Saves whose outcome is known: idempotency keys")
struct SaveOutcomeTests {
    @Test(arguments: [false, true])
    func aRetryWithTheSameKeyReturnsTheFirstOutcome(phaseFive: Bool) async throws {
        try await TestDatabase.withFresh { db in
            let created = try await Fixtures.repository(db, Fixtures.writesOn).create(Fixtures.program(), for: UUID())
            let other = try await Fixtures.repository(db, Fixtures.writesOn).create(Fixtures.program(name: "Other"), for: UUID())
            if phaseFive { try await PhaseFiveFixtures.enterPhaseFive(db) }
            let repository = Fixtures.repository(db, phaseFive ? PhaseFiveFixtures.phaseFive : Fixtures.writesOn)
            let read = try await repository.program(created.id)
            var edited = read.program
            edited.name = "Saved once"
            let key = UUID()
            let first = try await repository.save(edited, to: created.id, expectedRevision: read.revision, idempotencyKey: key)
            #expect(first.createdVersion && !first.replayed)
            // The retry an app makes when it never heard back: the same edit, key and revision.
            let retry = try await repository.save(edited, to: created.id, expectedRevision: read.revision, idempotencyKey: key)
            #expect(retry.replayed && retry.stored.revision == first.stored.revision && retry.stored.version == first.stored.version)
            #expect(retry.stored.program.name == "Saved once")
            #expect(try await repository.versions(of: created.id).count == 2, "a retry never writes a second version")
            // A key belongs to one save of one program.
            let otherRead = try await repository.program(other.id)
            await #expect(throws: RepositoryError.self) {
                _ = try await repository.save(otherRead.program, to: other.id, expectedRevision: otherRead.revision, idempotencyKey: key)
            }
        }
    }
}

/// The fault test runs after the rest of the suite, alone, with the other timing-sensitive
/// tests (scripts/test): a killer that races the app workers must get its share of the two
/// cores, or it kills too little to prove anything.
@Suite("Saves whose outcome is known: backends killed at random (alone)")
struct SaveFaultTimingSensitiveTests {
    /// App workers save with a key each; a killer terminates their backends at random, and
    /// whenever it sees one, in the middle of COMMIT. Every outcome the library reports must
    /// match what the database holds; an unknown one is resolved by retrying with its key.
    @Test(arguments: [false, true])
    func backendsKilledAtRandomNeverLeaveAnOutcomeWrong(phaseFive: Bool) async throws {
        try await TestDatabase.withFresh(maxConnections: 4) { db in
            try await LegacySeeder(pool: db.pool).seed(.init(programs: 12, seed: 101, sessionsPerProgram: 0))
            if phaseFive {
                try await PhaseFiveFixtures.enterPhaseFive(db)
            } else {
                try await BackfillFixtures.turnWritesOn(db)
                _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
            }
            let programs = try await db.pool.query("SELECT id FROM programs ORDER BY id").map { try $0.decode(UUID.self, at: 0) }
            // Test only: every save's COMMIT takes a few milliseconds (a deferred trigger on its
            // receipt), so the killer finds COMMITs in flight instead of missing them all.
            try await db.pool.withConnection { connection in
                try await connection.executeScript(unsafeSQL: """
                    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.003); RETURN NULL; END $$;
                    CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON save_receipts DEFERRABLE INITIALLY DEFERRED
                      FOR EACH ROW EXECUTE FUNCTION slow_commit();
                    """)
            }
            let versionsBefore = try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions")
            let appPool = PGPool(.init(connectionString: db.url + " application_name=pv_fault_app", maxConnections: 3))
            let flags = phaseFive ? PhaseFiveFixtures.phaseFive : Fixtures.writesOn
            let repository = ProgramRepository(pool: appPool, flags: FixedFlagSource(flags), logger: Logger(label: "app"))
            let ledger = SaveLedger()
            let done = StopSignal()

            let killer = Task {
                let connection = try await PGConnection.connect(to: db.url)
                var kills = 0
                var round = 0
                while !done.isSet {
                    round += 1
                    // A COMMIT in flight, one time in three; now and then any app backend, wherever
                    // it is. Phase 5's save is one statement that commits on its own: it is in its
                    // COMMIT while the receipt's deferred trigger sleeps (wait event PgSleep).
                    // Killing it anywhere else too would make its window, and so the retries a
                    // save needs before one gets through, grow with the load on the machine.
                    let anyone = round % 40 == 0
                    if anyone || Int.random(in: 0..<3) == 0 {
                        kills += try await connection.query("""
                            SELECT count(pg_terminate_backend(pid)) FROM (
                              SELECT pid FROM pg_stat_activity
                               WHERE datname = current_database() AND application_name = 'pv_fault_app' AND pid <> pg_backend_pid()
                                 AND (\(anyone) OR (state = 'active'
                                      AND (query = 'COMMIT' OR (query LIKE 'WITH go AS%' AND wait_event = 'PgSleep'))))
                               ORDER BY random() LIMIT 1) victim
                            """).single().decode(Int.self, at: 0)
                    }
                    try await Task.sleep(for: .microseconds(Int.random(in: 500...2_000)))
                }
                await connection.close()
                return kills
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<3 {
                    group.addTask {
                        // Each worker edits its own programs, so a conflict would be a bug.
                        let mine = programs.enumerated().filter { $0.offset % 3 == worker }.map(\.element)
                        for round in 0..<40 {
                            let id = mine[round % mine.count]
                            guard let current = try? await repository.program(id) else { continue }
                            var edited = current.program
                            edited.name = "worker \(worker) round \(round)"
                            let key = UUID()
                            var attempts = 0
                            var unknownBefore = false
                            while true {
                                attempts += 1
                                do throws(RepositoryError) {
                                    let result = try await repository.save(edited, to: id, expectedRevision: current.revision, idempotencyKey: key)
                                    ledger.state.withLock {
                                        $0.saved[key] = result.stored.version ?? 0
                                        if result.replayed { $0.replayed += 1 }
                                    }
                                    break
                                } catch {
                                    switch error {
                                    case .outcomeUnknown:
                                        ledger.state.withLock { $0.unknown += 1 }
                                        unknownBefore = true
                                        continue  // the app's retry: same edit, same key
                                    case .database(let cause) where unknownBefore && cause.isConnectionLoss:
                                        // This attempt saved nothing, but an earlier one may have
                                        // committed: only a retry that gets through can tell.
                                        continue
                                    case .database:
                                        ledger.state.withLock { _ = $0.notSaved.insert(key) }  // definitely not saved
                                    default:
                                        Issue.record("unexpected \(error)")
                                    }
                                }
                                break
                            }
                            #expect(attempts < 200, "a save retried \(attempts) times")
                        }
                    }
                }
                try await group.waitForAll()
            }
            done.set()
            let kills = try await killer.value
            await appPool.close()

            let (saved, notSaved, unknown, replayed) = ledger.state.withLock { ($0.saved, $0.notSaved, $0.unknown, $0.replayed) }
            #expect(kills > 10 && unknown > 0, "the killer must really have killed, COMMITs too (\(kills) kills, \(unknown) unknown)")
            let receipts = try await db.pool.query("SELECT idempotency_key, version FROM save_receipts").map { try $0.decode((UUID, Int32?).self) }
            let committed = Dictionary(uniqueKeysWithValues: receipts.map { ($0.0, Int($0.1 ?? 0)) })
            // Reported saved: committed, with the version it said. Reported not saved: not committed.
            #expect(committed == saved, "saved \(saved.count), receipts \(committed.count)")
            #expect(notSaved.isDisjoint(with: committed.keys))
            // Versions: exactly one per save that committed.
            let versionsNow = try await BackfillFixtures.count(db, "SELECT count(*) FROM program_versions")
            #expect(versionsNow - versionsBefore == committed.count)
            try await PhaseFiveFixtures.requireCleanCheck(db)
            print("fault test (phase 5: \(phaseFive)): \(kills) kills, \(saved.count) saved, \(notSaved.count) not saved, \(unknown) unknown then resolved, \(replayed) replayed")
        }
    }
}

/// What the fault test's app workers were told about each save, by idempotency key.
final class SaveLedger: Sendable {
    let state = Mutex<(saved: [UUID: Int], notSaved: Set<UUID>, unknown: Int, replayed: Int)>(([:], [], 0, 0))
}
