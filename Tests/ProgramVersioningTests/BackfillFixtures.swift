import Foundation
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport

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
}
