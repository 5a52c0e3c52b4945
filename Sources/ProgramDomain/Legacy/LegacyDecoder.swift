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

    /// `init(legacyJSON:)` for the common argument type, without the generic entry's cost
    /// of looking up `Collection` conformances on every call.
    public init(legacyJSON bytes: [UInt8]) throws(LegacyDecodingError) {
        self = try bytes.withUnsafeBufferPointer(Program.decodeResult).get()
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

    /// Workouts whose ids (or some of whose exercises' ids) were not written.
    private var missingIDs: [MissingIDs] = []
    /// Per level, the order its known keys came in last time.
    private var keyOrder = KeyOrderGuesses()

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
        var name: String?
        var workouts: [Workout]?
        var schedule: [ScheduleEntry]?
        let unknown = try members(required: Self.requiredProgramKeys, in: .root, at: start) { (decoder, key: ProgramKey) throws(JSONSyntaxError) in
            switch key {
            case .name: name = try decoder.readString(at: JSONPath.root.appending("name"))
            case .workouts:
                decoder.missingIDs = []
                workouts = try decoder.elements(at: JSONPath.root.appending("workouts")) { decoder, position, workouts throws(JSONSyntaxError) in
                    try decoder.workout(at: position, appendingTo: &workouts)
                }
            case .schedule:
                schedule = try decoder.elements(at: JSONPath.root.appending("schedule")) { decoder, position, entries throws(JSONSyntaxError) in
                    try decoder.scheduleEntry(at: position, appendingTo: &entries)
                }
            }
        }
        guard located.isEmpty, let name, var workouts, var schedule else { return nil }
        Self.fillIn(missingIDs, of: &workouts)
        Self.resolve(&schedule, against: workouts)
        return Program(name: name, workouts: workouts, schedule: schedule, unknownKeys: unknown)
    }

    /// Appends the workout (ids "" where none was written, recorded in `missingIDs` and
    /// filled in at the end), or nothing for a problem.
    private mutating func workout(at position: Int, appendingTo workouts: inout [Workout]) throws(JSONSyntaxError) {
        var path: JSONPath { JSONPath.workout(position) }  // built only for a problem
        guard let start = try beginObject(at: path) else { return }
        var id: String??  = .some(nil)
        var name: String?
        var exercises: [Exercise]?
        var missingExerciseIDs: [Int] = []
        let unknown = try members(required: Self.requiredWorkoutKeys, in: path, at: start) { (decoder, key: WorkoutKey) throws(JSONSyntaxError) in
            switch key {
            case .id: id = try decoder.readOptionalString(at: path.appending("id"))
            case .name: name = try decoder.readString(at: path.appending("name"))
            case .exercises:
                missingExerciseIDs = []
                exercises = try decoder.elements(at: path.appending("exercises")) { decoder, exercisePosition, exercises throws(JSONSyntaxError) in
                    let idWritten = try decoder.exercise(at: exercisePosition, inWorkout: position, appendingTo: &exercises)
                    if idWritten == false { missingExerciseIDs.append(exercisePosition) }
                }
            }
        }
        guard let id, let name, let exercises else { return }
        if id == nil || !missingExerciseIDs.isEmpty {
            missingIDs.append(MissingIDs(workout: workouts.count, workoutID: id == nil, exercises: missingExerciseIDs))
        }
        workouts.append(Workout(id: id ?? "", name: name, exercises: exercises, unknownKeys: unknown))
    }

    /// Appends the exercise (id "" when none was written, filled in later) and returns
    /// whether an id was written; nil, appending nothing, for a problem. Fields are read
    /// into plain locals (the member walk reports missing ones, problems are in `located`)
    /// and moved into the exercise appended to the array: optionals unwrapped into it
    /// were copied (every string retained) and then destroyed.
    private mutating func exercise(
        at position: Int, inWorkout workout: Int, appendingTo exercises: inout [Exercise]
    ) throws(JSONSyntaxError) -> Bool? {
        var path: JSONPath { JSONPath.exercise(position, inWorkout: workout) }  // built only for a problem
        guard let start = try beginObject(at: path) else { return nil }
        let problemsBefore = located.count
        var id = "", name = ""
        var idWritten = false
        var sets = 0, reps = 0, rest = 0
        var weight: JSONNumber?
        var writesNullWeight = false
        let unknown = try members(required: Self.requiredExerciseKeys, in: path, at: start) { (decoder, key: ExerciseKey) throws(JSONSyntaxError) in
            switch key {
            case .id:
                if let read = try decoder.readOptionalString(at: path.appending("id")) {
                    idWritten = read != nil
                    id = read ?? ""
                }
            case .name: name = try decoder.readString(at: path.appending("name")) ?? ""
            case .sets: sets = try decoder.readInteger(at: path.appending("sets")) ?? 0
            case .reps: reps = try decoder.readInteger(at: path.appending("reps")) ?? 0
            case .restSeconds: rest = try decoder.readInteger(at: path.appending("restSeconds")) ?? 0
            case .weightKg:
                if let read = try decoder.readWeight(at: path.appending("weightKg")) { (weight, writesNullWeight) = read }
            }
        }
        guard located.count == problemsBefore else { return nil }
        exercises.append(Exercise(
            id: consume id, name: consume name, sets: sets, reps: reps, restSeconds: rest,
            weightKg: consume weight, writesNullWeight: writesNullWeight, unknownKeys: consume unknown))
        return idWritten
    }

    /// Appends the entry naming its workout by index (`resolve` turns it into an id at the
    /// end), or nothing for a problem.
    private mutating func scheduleEntry(at position: Int, appendingTo entries: inout [ScheduleEntry]) throws(JSONSyntaxError) {
        var path: JSONPath { JSONPath.scheduleEntry(position) }  // built only for a problem
        guard let start = try beginObject(at: path) else { return }
        var day: Int?, index: Int?
        let unknown = try members(required: Self.requiredScheduleKeys, in: path, at: start) { (decoder, key: ScheduleKey) throws(JSONSyntaxError) in
            switch key {
            case .dayIndex: day = try decoder.readInteger(at: path.appending("dayIndex"))
            case .workoutIndex: index = try decoder.readInteger(at: path.appending("workoutIndex"))
            }
        }
        guard let day, let index else { return }
        entries.append(ScheduleEntry(dayIndex: day, workout: .index(index), unknownKeys: unknown))
    }

    private static let requiredProgramKeys = SeenKeys([ProgramKey.name, .workouts, .schedule])
    private static let requiredWorkoutKeys = SeenKeys([WorkoutKey.name, .exercises])
    private static let requiredExerciseKeys = SeenKeys([ExerciseKey.name, .sets, .reps, .restSeconds])
    private static let requiredScheduleKeys = SeenKeys([ScheduleKey.dayIndex, .workoutIndex])

    /// Walks the members of the object whose `{` was just taken: `read` reads each known
    /// key's value (the cursor on it), the app's own keys are kept as written. Reports the
    /// `required` keys the object lacked and returns the app's members.
    @inline(__always)
    private mutating func members<Known: LegacyKeySet>(
        required: SeenKeys, in path: @autoclosure () -> JSONPath, at start: Int,
        _ read: (inout LegacyDecoder, Known) throws(JSONSyntaxError) -> Void
    ) throws(JSONSyntaxError) -> JSONObject {
        var seen = SeenKeys()
        var unknown = JSONObject()
        var first = true
        var previous = KeyOrderGuess.start
        var guess = keyOrder[Known.self]
        defer { keyOrder[Known.self] = guess }
        while let member: LegacyMember<Known> = try parser.nextMember(first: &first, previous: &previous, guess: &guess) {
            switch member {
            case .known(let key):
                seen.insert(key)
                try read(&self, key)
            case .unknown(let key):
                unknown.set(try key.string(), try parser.parseValue())
            }
        }
        reportMissing(seen, required, of: Known.self, in: path(), at: start)
        return unknown
    }

    /// A set of known keys of one level, by raw value: those an object had, or needs.
    private struct SeenKeys {
        private var bits: UInt16 = 0
        init() {}
        init<Known: LegacyKeySet>(_ keys: [Known]) { for key in keys { insert(key) } }
        mutating func insert(_ key: some LegacyKeySet) { bits |= 1 << key.rawValue }
        func contains(_ key: some LegacyKeySet) -> Bool { bits & (1 << key.rawValue) != 0 }
        func contains(_ other: SeenKeys) -> Bool { bits & other.bits == other.bits }
    }

    /// Reports each required key the object did not have, in the level's key order.
    @inline(__always)
    private mutating func reportMissing<Known: LegacyKeySet>(
        _ seen: SeenKeys, _ required: SeenKeys, of _: Known.Type, in path: @autoclosure () -> JSONPath, at offset: Int
    ) {
        guard !seen.contains(required) else { return }
        for key in Known.allCases where required.contains(key) && !seen.contains(key) {
            report(path().appending(String(decoding: key.name, as: UTF8.self)), .missing, at: offset)
        }
    }

    // MARK: Assembly

    /// A workout of the document whose id, or some of whose exercises' ids, were not written.
    struct MissingIDs {
        var workout: Int
        var workoutID: Bool
        var exercises: [Int]
    }

    /// Fills in missing ids: written ids are reserved first, then each missing one gets
    /// the first free id by the rule in `GeneratedIDs`.
    static func fillIn(_ missing: [MissingIDs], of workouts: inout [Workout]) {
        guard !missing.isEmpty else { return }
        if missing.contains(where: \.workoutID) {
            let generated = Set(missing.filter(\.workoutID).map(\.workout))
            var taken = Set(workouts.indices.filter { !generated.contains($0) }.map { workouts[$0].id })
            for position in generated.sorted() {
                workouts[position].id = GeneratedIDs.firstFree(GeneratedIDs.workoutID(position: position, name: workouts[position].name), taken: &taken)
            }
        }
        for item in missing where !item.exercises.isEmpty {
            let position = item.workout
            let generated = Set(item.exercises)
            let exercises = workouts[position].exercises
            var taken = Set(exercises.indices.filter { !generated.contains($0) }.map { exercises[$0].id })
            for exercisePosition in item.exercises {
                workouts[position].exercises[exercisePosition].id = GeneratedIDs.firstFree(
                    GeneratedIDs.exerciseID(workoutID: workouts[position].id, position: exercisePosition, name: exercises[exercisePosition].name),
                    taken: &taken)
            }
        }
    }

    /// Turns each entry's `workoutIndex` into the workout's id where the index names exactly
    /// one workout; others stay an index for validation to report.
    static func resolve(_ schedule: inout [ScheduleEntry], against workouts: [Workout]) {
        for position in schedule.indices {
            guard case .index(let index) = schedule[position].workout, workouts.indices.contains(index) else { continue }
            let id = workouts[index].id
            if !workouts.indices.contains(where: { $0 != index && workouts[$0].id == id }) {
                schedule[position].workout = .id(id)
            }
        }
    }

    // MARK: Values, each read where it stands; a wrong one is reported there.

    private mutating func readString(at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) -> String? {
        parser.skipWhitespace()
        if parser.peek(UInt8(ascii: "\"")) { return try parser.parseString() }  // the common case, without dispatching on the kind
        let kind = parser.peekKind()
        if kind == .string { return try parser.parseString() }
        try skipWrongType(kind, expected: "a string", at: path())
        return nil
    }

    /// An id: a string, or null (to be generated). The outer nil means a problem.
    private mutating func readOptionalString(at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) -> String?? {
        parser.skipWhitespace()
        if parser.peek(UInt8(ascii: "\"")) { return .some(try parser.parseString()) }
        switch parser.peekKind() {
        case .string: return .some(try parser.parseString())
        case .null:
            _ = try parser.parseValue()
            return .some(nil)
        case let kind:
            try skipWrongType(kind, expected: "a string", at: path())
            return nil
        }
    }

    /// A number, or a string spelling one.
    private mutating func readNumber(at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) -> JSONNumber? {
        let offset = parser.index
        switch parser.peekKind() {
        case .number: return try parser.parseNumber()
        case .string:
            let text = try parser.parseString()
            if let number = JSONNumber(text) { return number }
            report(path(), .notANumber(text), at: offset)
            return nil
        case let kind:
            try skipWrongType(kind, expected: "a number", at: path())
            return nil
        }
    }

    private mutating func readInteger(at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) -> Int? {
        parser.skipWhitespace()
        if let integer = parser.plainInteger() { return integer }  // the common case, without dispatching on the kind
        let offset = parser.index
        guard let number = try readNumber(at: path()) else { return nil }
        if let integer = number.intValue { return integer }
        report(path(), number.isWholeNumber ? .numberTooLarge(number.literal) : .notAWholeNumber(number.literal), at: offset)
        return nil
    }

    /// `weightKg`: null (bodyweight) or a number. The outer nil means a problem.
    private mutating func readWeight(at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) -> (value: JSONNumber?, writtenAsNull: Bool)? {
        if parser.peekKind() == .null {
            _ = try parser.parseValue()
            return (nil, true)
        }
        guard let number = try readNumber(at: path()) else { return nil }
        return (number, false)
    }

    /// Reports a value of the wrong type and moves past it (invalid JSON throws here).
    private mutating func skipWrongType(_ kind: JSONParser.ValueKind, expected: String, at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) {
        let offset = parser.index
        _ = try parser.parseValue()
        report(path(), .wrongType(expected: expected, found: kind.typeName), at: offset)
    }

    /// Consumes an object's `{` and returns where it starts; for anything else reports the
    /// type, skips the value and returns nil.
    private mutating func beginObject(at path: @autoclosure () -> JSONPath) throws(JSONSyntaxError) -> Int? {
        parser.skipWhitespace()
        let start = parser.index
        if parser.peek(UInt8(ascii: "{")) {
            try parser.beginContainer()
            return start
        }
        let kind = parser.peekKind()
        guard kind == .object else {
            _ = try parser.parseValue()
            report(path(), .wrongType(expected: "an object", found: kind.typeName), at: start)
            return nil
        }
        try parser.beginContainer()
        return start
    }

    /// An array whose `element` reader appends what it reads (or nothing, for a problem).
    private mutating func elements<Element>(
        at path: @autoclosure () -> JSONPath, _ element: (inout LegacyDecoder, Int, inout [Element]) throws(JSONSyntaxError) -> Void
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
        elements.reserveCapacity(8)  // typical for workouts, exercises and schedules alike
        var first = true
        var position = 0
        while try parser.nextElement(first: &first) {
            try element(&self, position, &elements)
            position += 1
        }
        return elements
    }

    private mutating func report(_ path: @autoclosure () -> JSONPath, _ reason: LegacyDecodingError.Reason, at offset: Int) {
        located.append((offset, .init(path: path(), reason: reason)))
    }
}
