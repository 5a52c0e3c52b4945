import Foundation
import PostgresDriver
import ProgramDomain
@testable import ProgramVersioning
import Testing
import TestSupport
import ProgramSeeding

/// The queries every app screen runs must be served by indexes at scale: seeded with 100k
/// programs (200k sessions, ~1M sets) and a version per program, EXPLAIN shows no
/// sequential scan of the big tables for any of them.
@Suite("Hot queries use indexes at 100k programs")
struct HotQueryPlanTests {
    static let bigTables: Set<String> = ["programs", "program_versions", "workout_sessions", "logged_sets"]

    /// (node type, relation) of every plan node that reads a relation, from EXPLAIN's JSON.
    static func scans(_ plan: JSONValue) -> [(node: String, relation: String)] {
        switch plan {
        case .array(let values): return values.flatMap(scans)
        case .object(let object):
            var found: [(node: String, relation: String)] = []
            if case .string(let node)? = object["Node Type"], case .string(let relation)? = object["Relation Name"] {
                found.append((node, relation))
            }
            for member in object.members { found += scans(member.value) }
            return found
        default: return []
        }
    }

    @Test func everyHotQueryIsAnIndexScan() async throws {
        try await TestDatabase.withFresh { db in
            _ = try await LegacySeeder(pool: db.pool).seed(.init(programs: 100_000, messyPercent: 0, seed: 3, sessionsPerProgram: 2))
            try await db.pool.query("""
                INSERT INTO program_versions (program_id, version, name, source_checksum, content_checksum)
                SELECT id, 1, 'seeded', 'c', 'c' FROM programs
                """)
            try await db.pool.withConnection { try await $0.executeScript(unsafeSQL: "ANALYZE") }
            let sample = try await db.pool.query("""
                SELECT s.program_id, s.user_id, l.exercise_id FROM workout_sessions s JOIN logged_sets l ON l.session_id = s.id LIMIT 1
                """).single()
            let (programID, userID, exerciseID) = try sample.decode((UUID, UUID, String).self)
            let queries: [(String, PGQuery)] = [
                ("current version", HotQueries.currentVersion(of: programID)),
                ("history", HotQueries.history(of: userID, limit: 50)),
                ("last performance", HotQueries.lastPerformance(of: userID, exerciseID: exerciseID)),
                ("program sessions", HotQueries.sessions(of: programID, limit: 50)),
            ]
            for (name, query) in queries {
                let explain = PGQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) " + query.sql, binds: query.binds)
                let planText = try await db.pool.query(explain).single().decode(String.self, at: 0)
                let plan = try JSONValue.parse(planText)
                let reads = Self.scans(plan).filter { Self.bigTables.contains($0.relation) }
                #expect(!reads.isEmpty, "\(name): the plan names no table, so this check would see nothing: \(planText)")
                let sequential = reads.filter { $0.node == "Seq Scan" }.map(\.relation)
                #expect(sequential.isEmpty, "\(name) scans \(sequential) sequentially: \(planText)")
            }
        }
    }
}
