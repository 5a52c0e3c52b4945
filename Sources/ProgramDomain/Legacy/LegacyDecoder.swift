extension Program {
    /// Decodes `programs.program_json` as the app writes it (DESIGN.md §2).
    ///
    /// Tolerant where real rows are messy: numbers written as strings (`"5"`, `"82.5"`) and
    /// whole numbers written with a fraction (`5.0`) are accepted; workouts and exercises
    /// without an `id` (absent or null) get one by the rule in `GeneratedIDs`. Precise where
    /// the JSON is wrong: every problem is reported at its path in one
    /// `LegacyDecodingError`. Out-of-range values (`"sets": 50`) decode;
    /// `Program.violations` reports them. A key repeated in one object counts once, with
    /// its last value, as in PostgreSQL's jsonb.
    public init(legacyJSON bytes: some Collection<UInt8>) throws(LegacyDecodingError) {
        if let result = bytes.withContiguousStorageIfAvailable(Program.decodeResult) {
            self = try result.get()
        } else {
            self = try Array(bytes).withUnsafeBufferPointer(Program.decodeResult).get()
        }
    }

    /// Decodes an already parsed legacy program document.
    public init(legacyJSON value: JSONValue) throws(LegacyDecodingError) {
        try self.init(legacyJSON: Array(value.jsonText.utf8))
    }

    private static func decodeResult(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<Program, LegacyDecodingError> {
        var decoder = LegacyDecoder(parser: JSONParser(buffer))
        do throws(JSONSyntaxError) {
            let program = try decoder.document()
            guard let program else { return .failure(LegacyDecodingError(problems: decoder.problems)) }
            return .success(program)
        } catch {
            return .failure(LegacyDecodingError(problems: [.init(path: .root, reason: .invalidJSON(error))]))
        }
    }
}

/// Reads the legacy document in one pass over its bytes, building values only for what a
/// `Program` holds (and the app's unknown keys), and collecting problems instead of
/// stopping at the first. Syntax errors stop it: past one, nothing can be located.
struct LegacyDecoder {
    var parser: JSONParser
    /// Problems with the byte offset they were found at, so they can be listed in
    /// document order although a missing key is only noticed at its object's end.
    private var located: [(offset: Int, problem: LegacyDecodingError.Problem)] = []

    init(parser: JSONParser) {
        self.parser = parser
    }

    var problems: [LegacyDecodingError.Problem] {
        located.enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element.problem)
    }

    mutating func document() throws(JSONSyntaxError) -> Program? {
        let program = try self.program()
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.failure("unexpected data after the JSON value") }
        return program
    }

    // MARK: Levels

    private mutating func program() throws(JSONSyntaxError) -> Program? {
        guard let start = try beginObject(at: .root) else { return nil }
        var name = Field(offset: start)
        var workouts: [DecodedWorkout]?
        var schedule: [DecodedScheduleEntry]?
        var seen = (workouts: false, schedule: false)
        var unknown = JSONObject()
        var first = true
        while let key = try parser.nextKey(first: &first) {
            if key.is("name") {
                name = try scalar()
            } else if key.is("workouts") {
                seen.workouts = true
                workouts = try array(at: JSONPath.root.appending("workouts")) { decoder, position throws(JSONSyntaxError) in
                    try decoder.workout(at: position)
                }
            } else if key.is("schedule") {
                seen.schedule = true
                schedule = try array(at: JSONPath.root.appending("schedule")) { decoder, position throws(JSONSyntaxError) in
                    try decoder.scheduleEntry(at: position)
                }
            } else {
                unknown.set(try key.string(), try parser.parseValue())
            }
        }
        let programName = string(name, at: JSONPath.root.appending("name"))
        if !seen.workouts { report(JSONPath.root.appending("workouts"), .missing, at: start) }
        if !seen.schedule { report(JSONPath.root.appending("schedule"), .missing, at: start) }
        guard located.isEmpty, let programName, let workouts, let schedule else { return nil }
        return Self.assemble(name: programName, workouts: workouts, schedule: schedule, unknownKeys: unknown)
    }

    private mutating func workout(at position: Int) throws(JSONSyntaxError) -> DecodedWorkout? {
        var path: JSONPath { JSONPath.workout(position) }  // built only for a problem
        guard let start = try beginObject(at: path) else { return nil }
        var id = Field(offset: start), name = Field(offset: start)
        var exercises: [DecodedExercise]?
        var sawExercises = false
        var unknown = JSONObject()
        var first = true
        while let key = try parser.nextKey(first: &first) {
            if key.is("id") {
                id = try scalar()
            } else if key.is("name") {
                name = try scalar()
            } else if key.is("exercises") {
                sawExercises = true
                exercises = try array(at: path.appending("exercises")) { decoder, exercisePosition throws(JSONSyntaxError) in
                    try decoder.exercise(at: exercisePosition, inWorkout: position)
                }
            } else {
                unknown.set(try key.string(), try parser.parseValue())
            }
        }
        let writtenID = optionalString(id, at: path.appending("id"))
        let workoutName = string(name, at: path.appending("name"))
        if !sawExercises { report(path.appending("exercises"), .missing, at: start) }
        guard let writtenID, let workoutName, let exercises else { return nil }
        return DecodedWorkout(writtenID: writtenID, name: workoutName, exercises: exercises, unknownKeys: unknown)
    }

    private mutating func exercise(at position: Int, inWorkout workout: Int) throws(JSONSyntaxError) -> DecodedExercise? {
        var path: JSONPath { JSONPath.exercise(position, inWorkout: workout) }  // built only for a problem
        guard let start = try beginObject(at: path) else { return nil }
        var id = Field(offset: start), name = Field(offset: start), sets = Field(offset: start), reps = Field(offset: start)
        var rest = Field(offset: start), weight = Field(offset: start)
        var unknown = JSONObject()
        var first = true
        while let key = try parser.nextKey(first: &first) {
            if key.is("id") {
                id = try scalar()
            } else if key.is("name") {
                name = try scalar()
            } else if key.is("sets") {
                sets = try scalar()
            } else if key.is("reps") {
                reps = try scalar()
            } else if key.is("restSeconds") {
                rest = try scalar()
            } else if key.is("weightKg") {
                weight = try scalar()
            } else {
                unknown.set(try key.string(), try parser.parseValue())
            }
        }
        let writtenID = optionalString(id, at: path.appending("id"))
        let exerciseName = string(name, at: path.appending("name"))
        let setCount = integer(sets, at: path.appending("sets"))
        let repCount = integer(reps, at: path.appending("reps"))
        let restSeconds = integer(rest, at: path.appending("restSeconds"))
        let weightKg = self.weight(weight, at: path.appending("weightKg"))
        guard let writtenID, let exerciseName, let setCount, let repCount, let restSeconds, let weightKg else { return nil }
        let exercise = Exercise(
            id: writtenID ?? "", name: exerciseName, sets: setCount, reps: repCount, restSeconds: restSeconds,
            weightKg: weightKg.value, writesNullWeight: weightKg.writtenAsNull, unknownKeys: unknown)
        return DecodedExercise(exercise: exercise, writtenID: writtenID)
    }

    private mutating func scheduleEntry(at position: Int) throws(JSONSyntaxError) -> DecodedScheduleEntry? {
        var path: JSONPath { JSONPath.scheduleEntry(position) }  // built only for a problem
        guard let start = try beginObject(at: path) else { return nil }
        var day = Field(offset: start), index = Field(offset: start)
        var unknown = JSONObject()
        var first = true
        while let key = try parser.nextKey(first: &first) {
            if key.is("dayIndex") {
                day = try scalar()
            } else if key.is("workoutIndex") {
                index = try scalar()
            } else {
                unknown.set(try key.string(), try parser.parseValue())
            }
        }
        let dayIndex = integer(day, at: path.appending("dayIndex"))
        let workoutIndex = integer(index, at: path.appending("workoutIndex"))
        guard let dayIndex, let workoutIndex else { return nil }
        return DecodedScheduleEntry(dayIndex: dayIndex, workoutIndex: workoutIndex, unknownKeys: unknown)
    }

    // MARK: Assembly

    struct DecodedExercise {
        var exercise: Exercise
        var writtenID: String?
    }

    struct DecodedWorkout {
        var writtenID: String?
        var name: String
        var exercises: [DecodedExercise]
        var unknownKeys: JSONObject
    }

    struct DecodedScheduleEntry {
        var dayIndex: Int
        var workoutIndex: Int
        var unknownKeys: JSONObject
    }

    /// Fills in missing ids (written ids are reserved first, see `GeneratedIDs`) and turns
    /// schedule indexes into workout ids where an index names exactly one workout.
    static func assemble(name: String, workouts decoded: [DecodedWorkout], schedule: [DecodedScheduleEntry], unknownKeys: JSONObject) -> Program {
        var workoutIDs = decoded.map { $0.writtenID ?? "" }
        if decoded.contains(where: { $0.writtenID == nil }) {
            var taken = Set(decoded.compactMap(\.writtenID))
            for (position, workout) in decoded.enumerated() where workout.writtenID == nil {
                workoutIDs[position] = GeneratedIDs.firstFree(GeneratedIDs.workoutID(position: position, name: workout.name), taken: &taken)
            }
        }
        let workouts = decoded.enumerated().map { position, workout -> Workout in
            var exercises = workout.exercises.map(\.exercise)
            if workout.exercises.contains(where: { $0.writtenID == nil }) {
                var taken = Set(workout.exercises.compactMap(\.writtenID))
                for (exercisePosition, exercise) in workout.exercises.enumerated() where exercise.writtenID == nil {
                    exercises[exercisePosition].id = GeneratedIDs.firstFree(
                        GeneratedIDs.exerciseID(workoutID: workoutIDs[position], position: exercisePosition, name: exercise.exercise.name),
                        taken: &taken)
                }
            }
            return Workout(id: workoutIDs[position], name: workout.name, exercises: exercises, unknownKeys: workout.unknownKeys)
        }
        let entries = schedule.map { entry -> ScheduleEntry in
            let index = entry.workoutIndex
            let namesOne = workoutIDs.indices.contains(index) && !workoutIDs.enumerated().contains { $0.offset != index && $0.element == workoutIDs[index] }
            return ScheduleEntry(dayIndex: entry.dayIndex, workout: namesOne ? .id(workoutIDs[index]) : .index(index), unknownKeys: entry.unknownKeys)
        }
        return Program(name: name, workouts: workouts, schedule: entries, unknownKeys: unknownKeys)
    }

    // MARK: Values

    /// A known key's value and where it starts (where its object starts while absent).
    struct Field {
        var value: Scalar = .absent
        var offset: Int
    }

    /// A value where the format expects a scalar, read without building a `JSONValue`.
    enum Scalar {
        case absent
        case null
        case string(String)
        case number(JSONNumber)
        /// The integer of a plain integer literal, decoded straight from its bytes.
        case integer(Int)
        case other(typeName: String)
    }

    private mutating func scalar() throws(JSONSyntaxError) -> Field {
        let kind = parser.peekKind()
        return Field(value: try scalar(kind), offset: parser.index)
    }

    private mutating func scalar(_ kind: JSONParser.ValueKind) throws(JSONSyntaxError) -> Scalar {
        switch kind {
        case .string: return .string(try parser.parseString())
        case .null:
            _ = try parser.parseValue()
            return .null
        case .number:
            let literal = try parser.numberBytes()
            if let integer = Self.plainInteger(literal) { return .integer(integer) }
            return .number(JSONNumber(validatedLiteral: String(decoding: literal, as: UTF8.self)))
        case .invalid:
            _ = try parser.parseValue()  // throws the syntax error
            return .absent
        case let kind:
            _ = try parser.parseValue()
            return .other(typeName: kind.typeName)
        }
    }

    /// `-?[1-9][0-9]{0,17}` or `0`: fits in `Int` without any check.
    private static func plainInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index = 1 }
        let digits = bytes.count - index
        guard digits >= 1, digits <= 18, digits == 1 || bytes[index] != UInt8(ascii: "0") else { return nil }
        var value = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit <= 9 else { return nil }
            value = value &* 10 &+ Int(digit)
            index += 1
        }
        return negative ? -value : value
    }

    /// Consumes an object's `{` and returns where it starts; for anything else reports the
    /// type, skips the value and returns nil.
    private mutating func beginObject(at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) -> Int? {
        let kind = parser.peekKind()
        let start = parser.index
        guard kind == .object else {
            _ = try parser.parseValue()
            report(path(), .wrongType(expected: "an object", found: kind.typeName), at: start)
            return nil
        }
        try parser.beginContainer()
        return start
    }

    private mutating func array<Element>(
        at path: @autoclosure () -> JSONPath, _ element: (inout LegacyDecoder, Int) throws(JSONSyntaxError) -> Element?
    ) throws(JSONSyntaxError) -> [Element]? {
        let kind = parser.peekKind()
        let start = parser.index
        guard kind == .array else {
            _ = try parser.parseValue()
            report(path(), .wrongType(expected: "an array", found: kind.typeName), at: start)
            return nil
        }
        try parser.beginContainer()
        var elements: [Element] = []
        var first = true
        var position = 0
        while try parser.nextElement(first: &first) {
            if let value = try element(&self, position) { elements.append(value) }
            position += 1
        }
        return elements
    }

    private mutating func report(_ path: @autoclosure () -> JSONPath, _ reason: LegacyDecodingError.Reason, at offset: Int) {
        located.append((offset, .init(path: path(), reason: reason)))
    }

    private mutating func string(_ field: Field, at path: @autoclosure () -> JSONPath) -> String? {
        switch field.value {
        case .string(let string): return string
        case .absent: report(path(), .missing, at: field.offset)
        default: report(path(), .wrongType(expected: "a string", found: field.value.typeName), at: field.offset)
        }
        return nil
    }

    /// An id: a string, or absent/null (to be generated). The outer nil means a problem.
    private mutating func optionalString(_ field: Field, at path: @autoclosure () -> JSONPath) -> String?? {
        switch field.value {
        case .absent, .null: return .some(nil)
        case .string(let string): return .some(string)
        default:
            report(path(), .wrongType(expected: "a string", found: field.value.typeName), at: field.offset)
            return nil
        }
    }

    /// A number, or a string spelling one.
    private mutating func number(_ field: Field, at path: @autoclosure () -> JSONPath) -> JSONNumber? {
        switch field.value {
        case .integer(let integer): return JSONNumber(integer)
        case .number(let number): return number
        case .string(let text):
            if let number = JSONNumber(text) { return number }
            report(path(), .notANumber(text), at: field.offset)
        case .absent: report(path(), .missing, at: field.offset)
        default: report(path(), .wrongType(expected: "a number", found: field.value.typeName), at: field.offset)
        }
        return nil
    }

    private mutating func integer(_ field: Field, at path: @autoclosure () -> JSONPath) -> Int? {
        if case .integer(let integer) = field.value { return integer }
        guard let number = number(field, at: path()) else { return nil }
        if let integer = number.intValue { return integer }
        report(path(), number.isWholeNumber ? .numberTooLarge(number.literal) : .notAWholeNumber(number.literal), at: field.offset)
        return nil
    }

    /// `weightKg`: absent or null (bodyweight), or a number. The outer nil means a problem.
    private mutating func weight(_ field: Field, at path: @autoclosure () -> JSONPath) -> (value: JSONNumber?, writtenAsNull: Bool)? {
        switch field.value {
        case .absent: return (nil, false)
        case .null: return (nil, true)
        default:
            guard let number = number(field, at: path()) else { return nil }
            return (number, false)
        }
    }
}

extension LegacyDecoder.Scalar {
    var typeName: String {
        switch self {
        case .absent: "nothing"
        case .null: "null"
        case .string: "a string"
        case .number, .integer: "a number"
        case .other(let typeName): typeName
        }
    }
}
