extension Program {
    /// Decodes `programs.program_json` as the app writes it (DESIGN.md §2).
    ///
    /// Tolerant where real rows are messy: numbers written as strings (`"5"`, `"82.5"`) and
    /// whole numbers written with a fraction (`5.0`) are accepted; workouts and exercises
    /// without an `id` get one by the rule in `GeneratedIDs`. Precise where the JSON is
    /// wrong: every problem is reported at its path in one `LegacyDecodingError`.
    /// Out-of-range values (`"sets": 50`) decode; `ProgramValidator` reports them.
    public init(legacyJSON bytes: some Collection<UInt8>) throws(LegacyDecodingError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw LegacyDecodingError(problems: [.init(path: .root, reason: .invalidJSON(error))])
        }
        try self.init(legacyJSON: value)
    }

    /// Decodes an already parsed legacy program document.
    public init(legacyJSON value: JSONValue) throws(LegacyDecodingError) {
        var decoder = LegacyDecoder()
        let program = decoder.program(value)
        guard decoder.problems.isEmpty, let program else {
            throw LegacyDecodingError(problems: decoder.problems)
        }
        self = program
    }
}

/// Keys the legacy format defines at each level; every other key is the app's own.
enum LegacyKeys {
    static let program: Set<String> = ["name", "workouts", "schedule"]
    static let workout: Set<String> = ["id", "name", "exercises"]
    static let exercise: Set<String> = ["id", "name", "sets", "reps", "restSeconds", "weightKg"]
    static let scheduleEntry: Set<String> = ["dayIndex", "workoutIndex"]
}

/// Walks the document, collecting problems instead of stopping at the first.
struct LegacyDecoder {
    private(set) var problems: [LegacyDecodingError.Problem] = []

    mutating func program(_ value: JSONValue) -> Program? {
        guard case .object(let object) = value else {
            report(.root, .wrongType(expected: "an object", found: value.typeName))
            return nil
        }
        let name = string(object, "name", at: .root)
        var workouts: [Workout] = []
        var givenIDs: [WrittenIDs] = []
        if let array = array(object, "workouts", at: .root) {
            for (position, element) in array.enumerated() {
                if let (workout, written) = workout(element, at: position) {
                    workouts.append(workout)
                    givenIDs.append(written)
                }
            }
        }
        var scheduleIndexes: [(dayIndex: Int, workoutIndex: Int, unknownKeys: JSONObject)] = []
        if let array = array(object, "schedule", at: .root) {
            for (position, element) in array.enumerated() {
                if let entry = scheduleEntry(element, at: position) { scheduleIndexes.append(entry) }
            }
        }
        guard problems.isEmpty, let name else { return nil }

        assignMissingIDs(&workouts, written: givenIDs)
        // An index names a workout by id only when that id is not shared with another.
        var idCounts: [String: Int] = [:]
        for workout in workouts { idCounts[workout.id, default: 0] += 1 }
        let schedule = scheduleIndexes.map { entry -> ScheduleEntry in
            let reference: WorkoutReference
            if workouts.indices.contains(entry.workoutIndex), idCounts[workouts[entry.workoutIndex].id] == 1 {
                reference = .id(workouts[entry.workoutIndex].id)
            } else {
                reference = .index(entry.workoutIndex)
            }
            return ScheduleEntry(dayIndex: entry.dayIndex, workout: reference, unknownKeys: entry.unknownKeys)
        }
        return Program(name: name, workouts: workouts, schedule: schedule, unknownKeys: unknown(object, LegacyKeys.program))
    }

    /// The ids a workout and its exercises carried in the JSON (nil where none was written).
    struct WrittenIDs {
        var workout: String?
        var exercises: [String?]
    }

    /// A workout with placeholder ids where none were written (assigned afterwards, once
    /// every written id is known), plus the ids that were written.
    private mutating func workout(_ value: JSONValue, at position: Int) -> (Workout, WrittenIDs)? {
        let path = JSONPath.workout(position)
        guard case .object(let object) = value else {
            report(path, .wrongType(expected: "an object", found: value.typeName))
            return nil
        }
        let id = optionalString(object, "id", at: path)
        let name = string(object, "name", at: path)
        var exercises: [Exercise] = []
        var givenExerciseIDs: [String?] = []
        if let array = array(object, "exercises", at: path) {
            for (exercisePosition, element) in array.enumerated() {
                if let (exercise, givenID) = exercise(element, at: exercisePosition, inWorkout: position) {
                    exercises.append(exercise)
                    givenExerciseIDs.append(givenID)
                }
            }
        }
        guard let name, let id else { return nil }
        let workout = Workout(id: id ?? "", name: name, exercises: exercises, unknownKeys: unknown(object, LegacyKeys.workout))
        return (workout, WrittenIDs(workout: id, exercises: givenExerciseIDs))
    }

    private mutating func exercise(_ value: JSONValue, at position: Int, inWorkout workout: Int) -> (Exercise, String?)? {
        let path = JSONPath.exercise(position, inWorkout: workout)
        guard case .object(let object) = value else {
            report(path, .wrongType(expected: "an object", found: value.typeName))
            return nil
        }
        let id = optionalString(object, "id", at: path)
        let name = string(object, "name", at: path)
        let sets = integer(object, "sets", at: path)
        let reps = integer(object, "reps", at: path)
        let rest = integer(object, "restSeconds", at: path)
        let weight = self.weight(object, at: path)
        guard let id, let name, let sets, let reps, let rest, let weight else { return nil }
        let exercise = Exercise(
            id: id ?? "", name: name, sets: sets, reps: reps, restSeconds: rest, weightKg: weight.value,
            writesNullWeight: weight.writtenAsNull, unknownKeys: unknown(object, LegacyKeys.exercise))
        return (exercise, id)
    }

    private mutating func scheduleEntry(_ value: JSONValue, at position: Int) -> (dayIndex: Int, workoutIndex: Int, unknownKeys: JSONObject)? {
        let path = JSONPath.scheduleEntry(position)
        guard case .object(let object) = value else {
            report(path, .wrongType(expected: "an object", found: value.typeName))
            return nil
        }
        let day = integer(object, "dayIndex", at: path)
        let index = integer(object, "workoutIndex", at: path)
        guard let day, let index else { return nil }
        return (day, index, unknown(object, LegacyKeys.scheduleEntry))
    }

    /// Written ids stay; the others are generated (see `GeneratedIDs`), workouts first, then
    /// the exercises of each workout under its final id.
    private func assignMissingIDs(_ workouts: inout [Workout], written: [WrittenIDs]) {
        if written.contains(where: { $0.workout == nil }) {
            var taken = Set(written.compactMap(\.workout))
            for position in workouts.indices where written[position].workout == nil {
                workouts[position].id = GeneratedIDs.firstFree(
                    GeneratedIDs.workoutID(position: position, name: workouts[position].name), taken: &taken)
            }
        }
        for position in workouts.indices {
            let writtenExercises = written[position].exercises
            guard writtenExercises.contains(where: { $0 == nil }) else { continue }
            var taken = Set(writtenExercises.compactMap { $0 })
            let workoutID = workouts[position].id
            for exercisePosition in workouts[position].exercises.indices where writtenExercises[exercisePosition] == nil {
                let name = workouts[position].exercises[exercisePosition].name
                workouts[position].exercises[exercisePosition].id = GeneratedIDs.firstFree(
                    GeneratedIDs.exerciseID(workoutID: workoutID, position: exercisePosition, name: name), taken: &taken)
            }
        }
    }

    // MARK: Fields

    private mutating func report(_ path: JSONPath, _ reason: LegacyDecodingError.Reason) {
        problems.append(.init(path: path, reason: reason))
    }

    private mutating func string(_ object: JSONObject, _ key: String, at path: JSONPath) -> String? {
        guard let value = object[key] else {
            report(path.appending(key), .missing)
            return nil
        }
        guard case .string(let string) = value else {
            report(path.appending(key), .wrongType(expected: "a string", found: value.typeName))
            return nil
        }
        return string
    }

    /// An id: a string, or absent/null (to be generated). The outer nil means a problem.
    private mutating func optionalString(_ object: JSONObject, _ key: String, at path: JSONPath) -> String??  {
        switch object[key] {
        case nil, .null?: return .some(nil)
        case .string(let string)?: return .some(string)
        case let value?:
            report(path.appending(key), .wrongType(expected: "a string", found: value.typeName))
            return nil
        }
    }

    private mutating func array(_ object: JSONObject, _ key: String, at path: JSONPath) -> [JSONValue]? {
        guard let value = object[key] else {
            report(path.appending(key), .missing)
            return nil
        }
        guard case .array(let array) = value else {
            report(path.appending(key), .wrongType(expected: "an array", found: value.typeName))
            return nil
        }
        return array
    }

    /// A number, or a string spelling one.
    private mutating func number(_ value: JSONValue, at path: JSONPath) -> JSONNumber? {
        switch value {
        case .number(let number): return number
        case .string(let text):
            guard let number = JSONNumber(text) else {
                report(path, .notANumber(text))
                return nil
            }
            return number
        default:
            report(path, .wrongType(expected: "a number", found: value.typeName))
            return nil
        }
    }

    private mutating func integer(_ object: JSONObject, _ key: String, at path: JSONPath) -> Int? {
        let path = path.appending(key)
        guard let value = object[key] else {
            report(path, .missing)
            return nil
        }
        guard let number = number(value, at: path) else { return nil }
        if let integer = number.intValue { return integer }
        report(path, number.isWholeNumber ? .numberTooLarge(number.literal) : .notAWholeNumber(number.literal))
        return nil
    }

    /// `weightKg`: absent or null (bodyweight), or a number. The outer nil means a problem.
    private mutating func weight(_ object: JSONObject, at path: JSONPath) -> (value: JSONNumber?, writtenAsNull: Bool)? {
        switch object["weightKg"] {
        case nil: return (nil, false)
        case .null?: return (nil, true)
        case let value?:
            guard let number = number(value, at: path.appending("weightKg")) else { return nil }
            return (number, false)
        }
    }

    private func unknown(_ object: JSONObject, _ known: Set<String>) -> JSONObject {
        // Most objects hold only known keys: skip building anything for them.
        guard object.members.contains(where: { !known.contains($0.key) }) else { return JSONObject() }
        return JSONObject(object.members.filter { !known.contains($0.key) })
    }
}
