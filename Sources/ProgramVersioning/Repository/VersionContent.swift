import Foundation
import PostgresDriver
import ProgramDomain

/// Reads one immutable version back into a `Program`: one query, the version row and all
/// its workouts, exercises and schedule entries as one ordered stream of typed rows.
enum VersionContent {
    private enum RowKind: Int {
        case version = 0, workout = 1, exercise = 2, schedule = 3
    }

    static func load(versionID: UUID, on connection: PostgresConnection) async throws -> Program {
        guard let program = try await load(versionIDs: [versionID], on: connection)[versionID] else {
            throw corrupt(versionID, "the version row is missing")
        }
        return try program.get()
    }

    /// Several versions in one query (the checker reads a page of programs at a time); a
    /// version whose rows cannot be read is a failure of its own, the others still load.
    static func load(versionIDs: [UUID], on connection: PostgresConnection) async throws -> [UUID: Result<Program, PostgresError>] {
        guard !versionIDs.isEmpty else { return [:] }
        // No join: an exercise names its workout row (`group_id`), which the workout rows
        // before it (kind 1, in position order) map to a position.
        let rows = try await connection.query("""
            SELECT v.id AS version_id, 0 AS kind, NULL::uuid AS group_id, 0 AS position, NULL::uuid AS row_id,
                   NULL::text AS item_id, v.name, v.extra::text, NULL::int AS sets, NULL::int AS reps, NULL::int AS rest_seconds,
                   NULL::text AS weight, NULL::int AS day_index
              FROM program_versions v WHERE v.id = ANY(\(versionIDs))
            UNION ALL
            SELECT w.program_version_id, 1, NULL, w.position, w.id, w.workout_id, w.name, w.extra::text, NULL, NULL, NULL, NULL, NULL
              FROM program_version_workouts w WHERE w.program_version_id = ANY(\(versionIDs))
            UNION ALL
            SELECT e.program_version_id, 2, e.workout_version_id, e.position, NULL, e.exercise_id, e.name, e.extra::text, e.sets,
                   e.reps, e.rest_seconds, e.weight_kg::text, NULL
              FROM program_version_exercises e WHERE e.program_version_id = ANY(\(versionIDs))
            UNION ALL
            SELECT s.program_version_id, 3, NULL, s.position, NULL, s.workout_id, NULL, s.extra::text, NULL, NULL, NULL, NULL, s.day_index
              FROM program_version_schedule s WHERE s.program_version_id = ANY(\(versionIDs))
            ORDER BY 1, 2, 3, 4
            """)
        var programs: [UUID: Result<Program, PostgresError>] = [:]
        var current: (id: UUID, assembler: Assembler)?
        func finish() {
            guard let done = current, programs[done.id] == nil else { return }
            programs[done.id] = Result { () throws(PostgresError) in try done.assembler.program() }
        }
        for row in rows {
            let (versionID, kindValue, groupID, _, rowID, itemID, itemName, extraText, sets, reps, rest, weight, day) =
                try row.decode((UUID, Int32, UUID?, Int32, UUID?, String?, String?, String, Int32?, Int32?, Int32?, String?, Int32?).self)
            if current?.id != versionID {
                finish()
                current = (versionID, Assembler(versionID: versionID))
            }
            guard programs[versionID] == nil else { continue }  // already failed
            do throws(PostgresError) {
                try current!.assembler.add(
                    kind: kindValue, groupID: groupID, rowID: rowID, itemID: itemID, itemName: itemName, extraText: extraText,
                    sets: sets, reps: reps, rest: rest, weight: weight, day: day)
            } catch {
                programs[versionID] = .failure(error)
            }
        }
        finish()
        return programs
    }

    /// Builds one version from its rows, which arrive ordered by kind, then workout row
    /// (exercises), then position: every workout is in place before its first exercise.
    private struct Assembler {
        let versionID: UUID
        var name: String?
        var programExtra = JSONObject()
        var workouts: [Workout] = []
        var schedule: [ScheduleEntry] = []
        /// Workout row id -> position in `workouts`.
        var workoutRows: [UUID: Int] = [:]

        init(versionID: UUID) {
            self.versionID = versionID
        }

        mutating func add(
            kind kindValue: Int32, groupID: UUID?, rowID: UUID?, itemID: String?, itemName: String?, extraText: String,
            sets: Int32?, reps: Int32?, rest: Int32?, weight: String?, day: Int32?
        ) throws(PostgresError) {
            let extra = try VersionContent.object(extraText, versionID: versionID)
            switch RowKind(rawValue: Int(kindValue)) {
            case .version?:
                name = itemName
                programExtra = extra
            case .workout?:
                if let rowID { workoutRows[rowID] = workouts.count }
                workouts.append(Workout(id: itemID ?? "", name: itemName ?? "", exercises: [], unknownKeys: extra))
            case .exercise?:
                guard let groupID, let workout = workoutRows[groupID] else {
                    throw corrupt(versionID, "an exercise of a workout that is not in this version")
                }
                var weightKg: JSONNumber?
                if let weight {
                    guard let number = JSONNumber(weight) else { throw corrupt(versionID, "weight \(weight) is not a number") }
                    weightKg = number
                }
                workouts[workout].exercises.append(Exercise(
                    id: itemID ?? "", name: itemName ?? "", sets: Int(sets ?? 0), reps: Int(reps ?? 0),
                    restSeconds: Int(rest ?? 0), weightKg: weightKg, unknownKeys: extra))
            case .schedule?:
                schedule.append(ScheduleEntry(dayIndex: Int(day ?? 0), workoutID: itemID ?? "", unknownKeys: extra))
            case nil:
                throw corrupt(versionID, "unexpected row kind \(kindValue)")
            }
        }

        func program() throws(PostgresError) -> Program {
            guard let name else { throw corrupt(versionID, "the version row is missing") }
            return Program(name: name, workouts: workouts, schedule: schedule, unknownKeys: programExtra)
        }
    }

    fileprivate static func object(_ text: String, versionID: UUID) throws(PostgresError) -> JSONObject {
        guard case .object(let object)? = try? JSONValue.parse(text) else {
            throw corrupt(versionID, "extra is not a JSON object")
        }
        return object
    }

    fileprivate static func corrupt(_ versionID: UUID, _ what: String) -> PostgresError {
        PostgresError(code: .decoding, message: "version \(versionID) cannot be read: \(what)")
    }
}
