import Foundation
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import TestSupport
import Testing

/// Helpers for the phase-5 tests: the rollout taken to phase 5 by its own rules, edits that
/// leave legacy behind, and what a database holds, in forms two runs can compare.
enum PhaseFiveFixtures {
    static let phaseFive = FlagSnapshot(writes: true, reads: true, readPercent: 100, legacyReadOnly: true)

    /// WRITES on, both backfills, a clean check, READS on at 100 %, another clean check,
    /// LEGACY_READONLY on: every step as the flag store's rules want it (the data must be clean).
    static func enterPhaseFive(_ db: TestDatabase.Fresh) async throws {
        let store = FlagStore(pool: db.pool)
        try await store.set(.writes, enabled: true, actor: "test", reason: "phase 2", force: false)
        _ = try await Backfill(pool: db.pool).run(.programs, options: .init())
        _ = try await Backfill(pool: db.pool).run(.sessions, options: .init())
        try await requireCleanCheck(db)
        try await store.set(.reads, enabled: true, percent: 100, actor: "test", reason: "phase 4", force: false)
        try await requireCleanCheck(db)
        try await store.set(.legacyReadOnly, enabled: true, actor: "test", reason: "phase 5", force: false)
    }

    static func requireCleanCheck(_ db: TestDatabase.Fresh) async throws {
        let report = try await ConsistencyCheck(pool: db.pool).run()
        try #require(report.isClean, "\(report.differences.prefix(5))")
    }

    /// Saves `edits` changes of every program in `ids` through `repository` (each a new
    /// version), cycling through: a rename, a changed rep count, an added exercise.
    static func edit(_ ids: [UUID], times edits: Int = 1, with repository: ProgramRepository) async throws {
        for id in ids {
            for round in 0..<edits {
                let stored = try await repository.program(id)
                var program = stored.program
                switch round % 3 {
                case 0: program.name = "\(program.name.prefix(150)) (edit \(round))"
                case 1: program.workouts[0].exercises[0].reps = program.workouts[0].exercises[0].reps % 20 + 1
                default:
                    program.workouts[0].exercises.append(Exercise(
                        id: "e-added-\(round)", name: "Added \(round)", sets: 3, reps: 10, restSeconds: 60, weightKg: JSONNumber("12.50"),
                        unknownKeys: ["addedBy": .string("phase 5 test")]))
                }
                _ = try await repository.save(program, to: id, expectedRevision: stored.revision)
            }
        }
    }

    /// Every program's legacy row as stored: JSON text, revision and timestamps.
    static func legacyRows(_ db: TestDatabase.Fresh) async throws -> [String] {
        try await db.pool.query("""
            SELECT id::text || ' ' || xmin::text || ' ' || updated_at::text || ' ' || program_json::text FROM programs ORDER BY id
            """).map { try $0.decode(String.self, at: 0) }
    }

    /// What a write-back left, independent of random version ids and times: each program's
    /// legacy JSON and the version number it was written from.
    static func writeBackShape(_ db: TestDatabase.Fresh) async throws -> [String] {
        try await db.pool.query("""
            SELECT p.id::text || ' ' || coalesce(v.version::text, '-') || ' ' || p.program_json::text
              FROM programs p
              LEFT JOIN legacy_syncs s ON s.program_id = p.id
              LEFT JOIN program_versions v ON v.id = s.program_version_id
             ORDER BY p.id
            """).map { try $0.decode(String.self, at: 0) }
    }

    /// The latest version of every program, as the library reads it.
    static func latestVersions(_ db: TestDatabase.Fresh) async throws -> [UUID: (version: Int, checksum: String)] {
        let rows = try await db.pool.query("""
            SELECT DISTINCT ON (program_id) program_id, version, content_checksum FROM program_versions
             ORDER BY program_id, version DESC
            """)
        var latest: [UUID: (Int, String)] = [:]
        for row in rows {
            let (id, version, checksum) = try row.decode((UUID, Int32, String).self)
            latest[id] = (Int(version), checksum)
        }
        return latest
    }

    static func cli(_ db: TestDatabase.Fresh, _ arguments: [String]) async throws -> CommandLineTool.Outcome {
        try await CommandLineTool.run(arguments + ["--database-url", db.url])
    }

    static func json(_ outcome: CommandLineTool.Outcome) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any], "\(outcome.stdout)")
    }
}
