extension Program {
    /// The program in the legacy shape (DESIGN.md §2) as compact JSON: the schedule
    /// written back as `workoutIndex`, the app's unknown keys after the known ones.
    ///
    /// `Program(legacyJSON:)` of it gives this program back, for every program whose
    /// schedule names existing workouts. A schedule entry naming a missing workout id
    /// (possible only in a program built in code, which validation refuses) is written
    /// one past the end.
    public var legacyJSONBytes: [UInt8] {
        let writer = LegacyWriter(JSONWriter(style: .compact, reservingCapacity: 8192))
        writer.write(self)
        return writer.output.bytes
    }

    /// `legacyJSONBytes` as text.
    public var legacyJSONText: String { String(decoding: legacyJSONBytes, as: UTF8.self) }

    /// `legacyJSONBytes` as a JSON value.
    public var legacyJSON: JSONValue {
        // The writer's own output always parses.
        (try? JSONValue.parse(legacyJSONBytes)) ?? .null
    }

    /// The canonical form: the legacy document with sorted keys and canonical numbers (see
    /// `JSONWriter`), bodyweight always as an absent `weightKg`.
    ///
    /// Two legacy documents that differ only in key order, whitespace, number spelling
    /// (`5`, `"5"`, `5.0`) or `null` vs absent weight have the same canonical form. Unknown
    /// keys count: the app may depend on them.
    public var canonicalBytes: [UInt8] {
        let writer = LegacyWriter(JSONWriter(style: .canonical, reservingCapacity: 8192))
        writer.write(self)
        return writer.output.bytes
    }

    /// SHA-256 of `canonicalBytes`, as 64 hex digits: `program_versions.source_checksum`.
    public var canonicalChecksum: String {
        let writer = LegacyWriter(JSONWriter(style: .canonical, reservingCapacity: 8192))
        writer.write(self)
        return writer.output.buffer.withBytes { SHA256Checksum.hex($0) }
    }
}

/// Writes a program straight from its fields (no intermediate `JSONValue`), known keys in
/// the legacy order or, in canonical style, merged with the unknown keys in byte order.
struct LegacyWriter {
    let output: JSONWriter
    private let canonical: Bool

    init(_ output: JSONWriter) {
        self.output = output
        canonical = output.style == .canonical
    }

    func write(_ program: Program) {
        var positions: [String: Int] = [:]
        for (position, workout) in program.workouts.enumerated() where positions[workout.id] == nil {
            positions[workout.id] = position
        }
        writeObject(ProgramKey.self, unknown: program.unknownKeys) { key in
            switch key {
            case .name: output.writeString(program.name)
            case .workouts:
                writeArray(program.workouts.indices) { write(program.workouts[$0]) }
            case .schedule:
                writeArray(program.schedule.indices) { position in
                    let entry = program.schedule[position]
                    let index: Int
                    switch entry.workout {
                    case .id(let id): index = positions[id] ?? program.workouts.count
                    case .index(let position): index = position
                    }
                    writeObject(ScheduleKey.self, unknown: entry.unknownKeys) { key in
                        switch key {
                        case .dayIndex: output.writeInteger(entry.dayIndex)
                        case .workoutIndex: output.writeInteger(index)
                        }
                    }
                }
            }
        }
    }

    private func write(_ workout: borrowing Workout) {
        writeObject(WorkoutKey.self, unknown: workout.unknownKeys) { key in
            switch key {
            case .id: output.writeString(workout.id)
            case .name: output.writeString(workout.name)
            case .exercises: writeArray(workout.exercises.indices) { write(workout.exercises[$0]) }
            }
        }
    }

    private func write(_ exercise: borrowing Exercise) {
        // Bodyweight: absent, or `null` where the app wrote null (never in canonical form).
        let writesWeight = exercise.weightKg != nil || (exercise.writesNullWeight && !canonical)
        writeObject(ExerciseKey.self, unknown: exercise.unknownKeys, skipping: writesWeight ? nil : .weightKg) { key in
            switch key {
            case .id: output.writeString(exercise.id)
            case .name: output.writeString(exercise.name)
            case .sets: output.writeInteger(exercise.sets)
            case .reps: output.writeInteger(exercise.reps)
            case .restSeconds: output.writeInteger(exercise.restSeconds)
            case .weightKg:
                if let weight = exercise.weightKg { output.writeNumber(weight) } else { output.buffer.append("null") }
            }
        }
    }

    private func writeArray(_ positions: Range<Int>, _ writeElement: (Int) -> Void) {
        output.buffer.append(UInt8(ascii: "["))
        for position in positions {
            if position > positions.lowerBound { output.buffer.append(UInt8(ascii: ",")) }
            writeElement(position)
        }
        output.buffer.append(UInt8(ascii: "]"))
    }

    /// An object of the known keys (minus `skipping`) and the app's `unknown` members.
    private func writeObject<Key: LegacyKeySet>(
        _: Key.Type, unknown: JSONObject, skipping: Key? = nil, _ writeValue: (Key) -> Void
    ) {
        let buffer = output.buffer
        buffer.append(UInt8(ascii: "{"))
        var first = true
        func writeKnown(_ key: Key) {
            if !first { buffer.append(UInt8(ascii: ",")) }
            first = false
            buffer.append(key.memberPrefix)
            writeValue(key)
        }
        func writeUnknown(_ member: (key: String, value: JSONValue)) {
            if !first { buffer.append(UInt8(ascii: ",")) }
            first = false
            output.writeMember(member.key, member.value)
        }
        if unknown.isEmpty {
            for key in canonical ? Key.canonical : Key.allCases where key != skipping { writeKnown(key) }
        } else if canonical {
            let extra = output.orderedMembers(unknown)
            var next = 0
            for key in Key.canonical where key != skipping {
                while next < extra.count, extra[next].key.utf8.lexicographicallyPrecedes(key.rawValue.utf8) {
                    writeUnknown(extra[next])
                    next += 1
                }
                writeKnown(key)
            }
            for member in extra[next...] { writeUnknown(member) }
        } else {
            for key in Key.allCases where key != skipping { writeKnown(key) }
            for member in unknown.members { writeUnknown(member) }
        }
        buffer.append(UInt8(ascii: "}"))
    }
}

/// The known keys of one level of the legacy format: `allCases` in the order the compact
/// style writes them, `canonical` in UTF-8 byte order.
private protocol LegacyKeySet: RawRepresentable, CaseIterable, Equatable where RawValue == String, AllCases == [Self] {
    static var canonical: [Self] { get }
    /// `"key":` as bytes, written as one copy.
    var memberPrefix: StaticString { get }
}

private enum ProgramKey: String, LegacyKeySet {
    case name, workouts, schedule
    static let canonical: [Self] = [.name, .schedule, .workouts]

    var memberPrefix: StaticString {
        switch self {
        case .name: #""name":"#
        case .workouts: #""workouts":"#
        case .schedule: #""schedule":"#
        }
    }
}

private enum WorkoutKey: String, LegacyKeySet {
    case id, name, exercises
    static let canonical: [Self] = [.exercises, .id, .name]

    var memberPrefix: StaticString {
        switch self {
        case .id: #""id":"#
        case .name: #""name":"#
        case .exercises: #""exercises":"#
        }
    }
}

private enum ExerciseKey: String, LegacyKeySet {
    case id, name, sets, reps, restSeconds, weightKg
    static let canonical: [Self] = [.id, .name, .reps, .restSeconds, .sets, .weightKg]

    var memberPrefix: StaticString {
        switch self {
        case .id: #""id":"#
        case .name: #""name":"#
        case .sets: #""sets":"#
        case .reps: #""reps":"#
        case .restSeconds: #""restSeconds":"#
        case .weightKg: #""weightKg":"#
        }
    }
}

private enum ScheduleKey: String, LegacyKeySet {
    case dayIndex, workoutIndex
    static let canonical: [Self] = [.dayIndex, .workoutIndex]

    var memberPrefix: StaticString {
        switch self {
        case .dayIndex: #""dayIndex":"#
        case .workoutIndex: #""workoutIndex":"#
        }
    }
}
