import Foundation
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport
import Testing

/// Helpers for the backfill tests: flags, table digests, and the shape of what a run left.
enum BackfillFixtures {
    static func turnWritesOn(_ db: TestDatabase.Fresh) async throws {
        _ = try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: "backfill test", force: false)
    }

    static let dataTables = [
        "programs", "workout_sessions", "logged_sets", "user_program_states", "program_versions", "program_version_workouts",
        "program_version_exercises", "program_version_schedule",
    ]
    static let runTables = ["backfill_runs", "backfill_reports"]

    /// One md5 per table over every row's text (order-independent), so any change shows.
    static func digest(_ db: TestDatabase.Fresh, tables: [String]) async throws -> [String: String] {
        var digests: [String: String] = [:]
        for table in tables {
            // Table names come from the constant lists above, never from data.
            digests[table] = try await db.pool.query(PGQuery(unsafeSQL: """
                SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'empty') FROM \(table) t
                """)).single().decode(String.self, at: 0)
        }
        return digests
    }

    /// What a finished backfill left, independent of random row ids, xids and times: each
    /// program's versions (number, checksum, author, row counts) and each report.
    static func outcomeShape(_ db: TestDatabase.Fresh) async throws -> [String] {
        let versions = try await db.pool.query("""
            SELECT v.program_id::text || ' v' || v.version || ' ' || v.content_checksum || ' ' || v.created_by
                   || ' w' || (SELECT count(*) FROM program_version_workouts w WHERE w.program_version_id = v.id)
                   || ' e' || (SELECT count(*) FROM program_version_exercises e WHERE e.program_version_id = v.id)
                   || ' s' || (SELECT count(*) FROM program_version_schedule s WHERE s.program_version_id = v.id)
              FROM program_versions v ORDER BY 1
            """).map { try $0.decode(String.self, at: 0) }
        let reports = try await db.pool.query("""
            SELECT DISTINCT coalesce(program_id::text, '') || ' ' || coalesce(session_id::text, '') || ' '
                   || coalesce(logged_set_id::text, '') || ' ' || reason || ' ' || coalesce(path, '')
              FROM backfill_reports ORDER BY 1
            """).map { try $0.decode(String.self, at: 0) }
        return versions + ["--"] + reports
    }

    static func count(_ db: TestDatabase.Fresh, _ query: PGQuery) async throws -> Int {
        try await db.pool.query(query).single().decode(Int.self, at: 0)
    }

    /// Every valid program whose latest version does not hold exactly its legacy JSON now
    /// (checked in Swift through the domain's canonical checksum), by id. A row rewritten
    /// with the same content (new xmin, same checksum) is not stale.
    static func programsWithStaleOrMissingVersion(_ db: TestDatabase.Fresh) async throws -> [UUID] {
        let rows = try await db.pool.query("""
            SELECT p.id, p.program_json, v.content_checksum
              FROM programs p
              LEFT JOIN LATERAL (SELECT content_checksum FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
            """)
        var stale: [UUID] = []
        for row in rows {
            let (id, json, checksum) = try row.decode((UUID, PGJSONB, String?).self)
            guard let program = try? Program(legacyJSON: json.bytes), program.violations.isEmpty else { continue }
            if checksum != program.canonicalChecksum { stale.append(id) }
        }
        return stale
    }

    /// Four app workers, each editing programs (one field each time) through the repository
    /// with dual writes, while `backfill` runs, until each made at least 40 saves and 400
    /// attempts; then checks what a backfill next to saves must leave: no version repeating
    /// the content of the one before it, none stale or missing, and app versions written
    /// while the run ran. Returns the saves made and the run's summary.
    static func appSavesDuring(
        _ db: TestDatabase.Fresh, _ backfill: @escaping @Sendable () async throws -> BackfillSummary
    ) async throws -> (saves: Int, summary: BackfillSummary) {
        let ids = try await db.pool.query("SELECT id FROM programs ORDER BY random()").map { try $0.decode(UUID.self, at: 0) }
        let repository = Fixtures.repository(db, Fixtures.writesOn)
        let run = Task { try await backfill() }
        let saves = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var (saved, round) = (0, 0)
                    while saved < 40 || round < 400 {
                        round += 1
                        let id = ids[(worker * 7_919 + round * 31) % ids.count]
                        guard let current = try? await repository.program(id) else { continue }
                        var edited = current.program
                        edited.name = "Edited by app worker \(worker) round \(round)"
                        if (try? await repository.save(edited, to: id, expectedRevision: current.revision)) != nil { saved += 1 }
                        if round > 4_000 { break }
                    }
                    return saved
                }
            }
            return try await group.reduce(0, +)
        }
        let summary = try await run.value
        let duplicates = try await count(db, """
            SELECT count(*) FROM program_versions a JOIN program_versions b ON b.program_id = a.program_id AND b.version = a.version + 1
             WHERE a.content_checksum = b.content_checksum
            """)
        #expect(duplicates == 0)
        #expect(try await programsWithStaleOrMissingVersion(db).isEmpty)
        // The app really wrote versions while the backfill ran.
        #expect(try await count(db, """
            SELECT count(*) FROM program_versions v, backfill_runs r
             WHERE v.created_by = 'save' AND v.created_at BETWEEN r.started_at AND r.finished_at
            """) > 0)
        return (saves, summary)
    }
}
