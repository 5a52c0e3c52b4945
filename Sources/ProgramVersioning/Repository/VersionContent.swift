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
        let rows = try await connection.query("""
            SELECT 0 AS kind, 0 AS workout_position, 0 AS position, NULL::text AS item_id, v.name, v.extra::text,
                   NULL::int AS sets, NULL::int AS reps, NULL::int AS rest_seconds, NULL::text AS weight, NULL::int AS day_index
              FROM program_versions v WHERE v.id = \(versionID)
            UNION ALL
            SELECT 1, w.position, w.position, w.workout_id, w.name, w.extra::text, NULL, NULL, NULL, NULL, NULL
              FROM program_version_workouts w WHERE w.program_version_id = \(versionID)
            UNION ALL
            SELECT 2, w.position, e.position, e.exercise_id, e.name, e.extra::text, e.sets, e.reps, e.rest_seconds,
                   e.weight_kg::text, NULL
              FROM program_version_exercises e JOIN program_version_workouts w ON w.id = e.workout_version_id
             WHERE e.program_version_id = \(versionID)
            UNION ALL
            SELECT 3, 0, s.position, s.workout_id, NULL, s.extra::text, NULL, NULL, NULL, NULL, s.day_index
              FROM program_version_schedule s WHERE s.program_version_id = \(versionID)
            ORDER BY 1, 2, 3
            """)
        var name: String?
        var programExtra = JSONObject()
        var workouts: [Workout] = []
        var schedule: [ScheduleEntry] = []
        for row in rows {
            let (kindValue, workoutPosition, _, itemID, itemName, extraText, sets, reps, rest, weight, day) =
                try row.decode((Int32, Int32, Int32, String?, String?, String, Int32?, Int32?, Int32?, String?, Int32?).self)
            let extra = try object(extraText, versionID: versionID)
            switch RowKind(rawValue: Int(kindValue)) {
            case .version?:
                name = itemName
                programExtra = extra
            case .workout?:
                workouts.append(Workout(id: itemID ?? "", name: itemName ?? "", exercises: [], unknownKeys: extra))
            case .exercise?:
                // Rows come ordered by kind, then workout position, then position: every
                // workout is in place before the first exercise.
                let workout = Int(workoutPosition)
                guard workouts.indices.contains(workout) else { throw corrupt(versionID, "an exercise of a missing workout") }
                let weightKg: JSONNumber? = try weight.map { text in
                    guard let number = JSONNumber(text) else { throw corrupt(versionID, "weight \(text) is not a number") }
                    return number
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
        guard let name else { throw corrupt(versionID, "the version row is missing") }
        return Program(name: name, workouts: workouts, schedule: schedule, unknownKeys: programExtra)
    }

    private static func object(_ text: String, versionID: UUID) throws -> JSONObject {
        guard case .object(let object)? = try? JSONValue.parse(text) else {
            throw corrupt(versionID, "extra is not a JSON object")
        }
        return object
    }

    private static func corrupt(_ versionID: UUID, _ what: String) -> PostgresError {
        PostgresError(code: .decoding, message: "version \(versionID) cannot be read: \(what)")
    }
}
