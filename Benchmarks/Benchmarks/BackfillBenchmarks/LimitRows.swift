import Foundation
import PostgresDriver
import ProgramDomain
import ProgramVersioning

/// The limit for the backfill: the exact rows it writes for the programs without a version (one each, its
/// workouts, exercises and schedule entries, same columns and values), as COPY text made
/// before the clock starts, sent with one plain COPY per table in one transaction. What is
/// left is PostgreSQL's own cost of taking those rows into the versioned tables, with their
/// constraints and triggers.
struct LimitRows: Sendable {
    var versions: [UInt8] = [], workouts: [UInt8] = [], exercises: [UInt8] = [], schedule: [UInt8] = []

    static func build(from url: String) async throws -> LimitRows {
        let connection = try await PGConnection.connect(to: url)
        defer { Task { await connection.close() } }
        var rows = LimitRows()
        var cursor: UUID?
        while true {
            let page = try await connection.query("""
                SELECT p.id, p.xmin::text, p.program_json FROM programs p
                 WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor))
                   AND NOT EXISTS (SELECT 1 FROM program_versions v WHERE v.program_id = p.id)
                 ORDER BY p.id LIMIT 5000
                """)
            if page.isEmpty { break }
            for row in page {
                let (id, revision, json) = try row.decode((UUID, String, PGJSONB).self)
                rows.append(programID: id, revision: revision, program: try Program(legacyJSON: json.bytes))
                cursor = id
            }
        }
        return rows
    }

    private mutating func append(programID: UUID, revision: String, program: Program) {
        let checksum = program.canonicalChecksum
        // Time-ordered ids made here, as the backfill makes them.
        let program_ = programID.uuidString, version = TimeOrderedID.make().uuidString
        Self.row(&versions, [version, program_, "1", program.name, Self.extra(program.unknownKeys), checksum, checksum, "backfill", revision])
        for (w, workout) in program.workouts.enumerated() {
            let workoutRow = TimeOrderedID.make().uuidString
            Self.row(&workouts, [workoutRow, program_, version, workout.id, workout.name, String(w), Self.extra(workout.unknownKeys)])
            for (e, exercise) in workout.exercises.enumerated() {
                Self.row(&exercises, [
                    TimeOrderedID.make().uuidString, program_, version, workoutRow, exercise.id, exercise.name, String(exercise.sets), String(exercise.reps),
                    String(exercise.restSeconds), exercise.weightKg?.canonical, String(e), Self.extra(exercise.unknownKeys),
                ])
            }
        }
        for (position, entry) in program.schedule.enumerated() {
            let workoutID: String = switch entry.workout {
            case .id(let id): id
            case .index(let index): program.workouts[index].id
            }
            Self.row(&schedule, [program_, version, String(position), String(entry.dayIndex), workoutID, Self.extra(entry.unknownKeys)])
        }
    }

    private static func extra(_ keys: JSONObject) -> String { JSONValue.object(keys).jsonText }

    /// COPY text format: fields escaped, tab-separated, `\N` for NULL, one row per line.
    private static func row(_ buffer: inout [UInt8], _ fields: [String?]) {
        for (index, field) in fields.enumerated() {
            if index > 0 { buffer.append(9) }
            guard let field else { buffer += Array("\\N".utf8); continue }
            for byte in field.utf8 {
                switch byte {
                case 0x5C: buffer += [0x5C, 0x5C]
                case 0x09: buffer += [0x5C, UInt8(ascii: "t")]
                case 0x0A: buffer += [0x5C, UInt8(ascii: "n")]
                case 0x0D: buffer += [0x5C, UInt8(ascii: "r")]
                default: buffer.append(byte)
                }
            }
        }
        buffer.append(0x0A)
    }

    /// One COPY per table in one transaction, into the versioned tables or, with a
    /// `prefix`, into tables of that prefix with the same columns.
    func copy(on connection: PGConnection, intoTablesPrefixed prefix: String = "") async throws {
        try await connection.transaction { connection in
            for (table, columns, bytes) in [
                ("program_versions", "id, program_id, version, name, extra, source_checksum, content_checksum, created_by, legacy_xmin", versions),
                ("program_version_workouts", "id, program_id, program_version_id, workout_id, name, position, extra", workouts),
                ("program_version_exercises",
                 "id, program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, weight_kg, position, extra",
                 exercises),
                ("program_version_schedule", "program_id, program_version_id, position, day_index, workout_id, extra", schedule),
            ] {
                // Table names are constants of this file and the caller's constant prefix.
                try await connection.copyFrom(PGQuery(unsafeSQL: "COPY \(prefix)\(table) (\(columns)) FROM STDIN")) { writer in
                    var start = 0
                    while start < bytes.count {
                        let end = min(bytes.count, start + 256 * 1024)
                        try await writer.write(encodedRows: bytes[start..<end])
                        start = end
                    }
                }
            }
        }
    }

    /// Tables `bare_program_versions` ... with the versioned tables' columns, defaults,
    /// NOT NULLs and CHECKs, and nothing else: no key, index, foreign key or trigger.
    static func createBareTables(on connection: PGConnection) async throws {
        for table in ["program_versions", "program_version_workouts", "program_version_exercises", "program_version_schedule"] {
            try await connection.query(PGQuery(unsafeSQL: "CREATE TABLE bare_\(table) (LIKE \(table) INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
        }
    }
}
