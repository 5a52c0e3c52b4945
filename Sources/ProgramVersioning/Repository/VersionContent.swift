import Foundation
import PostgresDriver
import ProgramDomain

/// Reads one immutable version back into a `Program`: one query, the version row and all
/// its workouts, exercises and schedule entries as one stream of typed rows.
package enum VersionContent {
    private enum RowKind: Int {
        case version = 0, workout = 1, exercise = 2, schedule = 3
    }

    /// One version of `programID`; rows that do not make a program throw
    /// `RepositoryError.unreadableVersion`.
    static func load(versionID: UUID, of programID: UUID, on connection: PGConnection) async throws -> Program {
        guard let program = try await load(versionIDs: [versionID], of: [programID], on: connection)[versionID] else {
            throw RepositoryError.unreadableVersion(programID: programID, corrupt(versionID, "the version row is missing"))
        }
        do {
            return try program.get()
        } catch {
            throw RepositoryError.unreadableVersion(programID: programID, error)
        }
    }

    /// Several versions in one query (the checker reads a page of programs at a time);
    /// `programIDs[i]` is the program of `versionIDs[i]` (every key of the versioned tables
    /// starts with the program). A version whose rows cannot be read is a failure of its own,
    /// the others still load.
    package static func load(
        versionIDs: [UUID], of programIDs: [UUID], on connection: PGConnection
    ) async throws -> [UUID: Result<Program, UnreadableVersion>] {
        precondition(versionIDs.count == programIDs.count, "one program per version")
        guard !versionIDs.isEmpty else { return [:] }
        // No ORDER BY: an exercise names its workout row (`group_id`) and every row its
        // position, so the rows are put in order here, a few dozen per version, rather than
        // sorted as one big set by the server (most of this query's cost). Each part reads
        // its table by key prefix, one index descent per version.
        let rows = try await connection.query("""
            WITH k AS MATERIALIZED (SELECT * FROM unnest(\(programIDs)::uuid[], \(versionIDs)::uuid[]) AS k(program_id, version_id))
            SELECT v.id AS version_id, 0 AS kind, NULL::uuid AS group_id, 0 AS position, NULL::uuid AS row_id,
                   NULL::text AS item_id, v.name, v.extra::text, NULL::int AS sets, NULL::int AS reps, NULL::int AS rest_seconds,
                   NULL::text AS weight, NULL::int AS day_index
              FROM k JOIN program_versions v ON v.program_id = k.program_id AND v.id = k.version_id
            UNION ALL
            SELECT w.program_version_id, 1, NULL, w.position, w.id, w.workout_id, w.name, w.extra::text, NULL, NULL, NULL, NULL, NULL
              FROM k JOIN program_version_workouts w ON w.program_id = k.program_id AND w.program_version_id = k.version_id
            UNION ALL
            SELECT e.program_version_id, 2, e.workout_version_id, e.position, NULL, e.exercise_id, e.name, e.extra::text, e.sets,
                   e.reps, e.rest_seconds, e.weight_kg::text, NULL
              FROM k JOIN program_version_exercises e ON e.program_id = k.program_id AND e.program_version_id = k.version_id
            UNION ALL
            SELECT s.program_version_id, 3, NULL, s.position, NULL, s.workout_id, NULL, s.extra::text, NULL, NULL, NULL, NULL, s.day_index
              FROM k JOIN program_version_schedule s ON s.program_id = k.program_id AND s.program_version_id = k.version_id
            """)
        var assemblers: [UUID: Assembler] = [:]
        assemblers.reserveCapacity(versionIDs.count)
        var failed: [UUID: UnreadableVersion] = [:]
        // A version's rows mostly come in runs (each part of the UNION reads by version), so
        // the one being built stays out of the dictionary until its run ends.
        var current: Assembler?
        for row in rows {
            let (versionID, kindValue, groupID, position, rowID, itemID, itemName, extraText, sets, reps, rest, weight, day) =
                try row.decode((UUID, Int32, UUID?, Int32, UUID?, String?, String?, String, Int32?, Int32?, Int32?, String?, Int32?).self)
            if current?.versionID != versionID {
                if let done = current { assemblers[done.versionID] = done }
                current = assemblers.removeValue(forKey: versionID) ?? Assembler(versionID: versionID)
            }
            guard failed.isEmpty || failed[versionID] == nil else { continue }
            do throws(UnreadableVersion) {
                try current?.add(
                    kind: kindValue, groupID: groupID, position: Int(position), rowID: rowID, itemID: itemID, itemName: itemName,
                    extraText: extraText, sets: sets, reps: reps, rest: rest, weight: weight, day: day)
            } catch {
                failed[versionID] = error
            }
        }
        if let done = current { assemblers[done.versionID] = done }
        var programs: [UUID: Result<Program, UnreadableVersion>] = failed.mapValues { .failure($0) }
        for (versionID, assembler) in assemblers where failed[versionID] == nil {
            programs[versionID] = Result { () throws(UnreadableVersion) in try assembler.program() }
        }
        return programs
    }

    /// Builds one version from its rows, which may arrive in any order: each item is kept
    /// with its position and put in place once all are there.
    private struct Assembler {
        let versionID: UUID
        var name: String?
        var programExtra = JSONObject()
        var workouts: [(position: Int, rowID: UUID?, workout: Workout)] = []
        var exercises: [(workoutRow: UUID, position: Int, exercise: Exercise)] = []
        var schedule: [(position: Int, entry: ScheduleEntry)] = []

        init(versionID: UUID) {
            self.versionID = versionID
        }

        mutating func add(
            kind kindValue: Int32, groupID: UUID?, position: Int, rowID: UUID?, itemID: String?, itemName: String?, extraText: String,
            sets: Int32?, reps: Int32?, rest: Int32?, weight: String?, day: Int32?
        ) throws(UnreadableVersion) {
            let extra = try VersionContent.object(extraText, versionID: versionID)
            switch RowKind(rawValue: Int(kindValue)) {
            case .version?:
                name = itemName
                programExtra = extra
            case .workout?:
                workouts.append((position, rowID, Workout(id: itemID ?? "", name: itemName ?? "", exercises: [], unknownKeys: extra)))
            case .exercise?:
                guard let groupID else { throw corrupt(versionID, "an exercise of a workout that is not in this version") }
                var weightKg: JSONNumber?
                if let weight {
                    guard let number = JSONNumber(weight) else { throw corrupt(versionID, "weight \(weight) is not a number") }
                    weightKg = number
                }
                exercises.append((groupID, position, Exercise(
                    id: itemID ?? "", name: itemName ?? "", sets: Int(sets ?? 0), reps: Int(reps ?? 0),
                    restSeconds: Int(rest ?? 0), weightKg: weightKg, unknownKeys: extra)))
            case .schedule?:
                schedule.append((position, ScheduleEntry(dayIndex: Int(day ?? 0), workoutID: itemID ?? "", unknownKeys: extra)))
            case nil:
                throw corrupt(versionID, "unexpected row kind \(kindValue)")
            }
        }

        func program() throws(UnreadableVersion) -> Program {
            guard let name else { throw corrupt(versionID, "the version row is missing") }
            let sortedWorkouts = workouts.sorted { $0.position < $1.position }
            var ordered = sortedWorkouts.map(\.workout)
            var positionOfRow: [UUID: Int] = [:]
            for (position, workout) in sortedWorkouts.enumerated() {
                if let rowID = workout.rowID { positionOfRow[rowID] = position }
            }
            for item in exercises.sorted(by: { $0.position < $1.position }) {
                guard let position = positionOfRow[item.workoutRow] else {
                    throw corrupt(versionID, "an exercise of a workout that is not in this version")
                }
                ordered[position].exercises.append(item.exercise)
            }
            let entries = schedule.sorted { $0.position < $1.position }.map(\.entry)
            return Program(name: name, workouts: ordered, schedule: entries, unknownKeys: programExtra)
        }
    }

    fileprivate static func object(_ text: String, versionID: UUID) throws(UnreadableVersion) -> JSONObject {
        if text == "{}" { return JSONObject() }  // most rows: the app added nothing
        guard case .object(let object)? = try? JSONValue.parse(text) else {
            throw corrupt(versionID, "extra is not a JSON object")
        }
        return object
    }

    fileprivate static func corrupt(_ versionID: UUID, _ what: String) -> UnreadableVersion {
        UnreadableVersion(versionID: versionID, reason: what)
    }
}

/// A stored version whose rows do not make a program (changed behind the library's back:
/// the database keeps versions immutable, so only a superuser or a restore can do it).
public struct UnreadableVersion: Error, Sendable, CustomStringConvertible {
    public var versionID: UUID
    /// What is wrong with the rows, e.g. "extra is not a JSON object".
    public var reason: String

    public var message: String { "version \(versionID) cannot be read: \(reason)" }
    public var description: String { message + "; run program-versioning check, which names the damaged rows" }
}
