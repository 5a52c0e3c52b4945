extension Program {
    /// The program in the legacy shape (DESIGN.md §2) as compact JSON: the schedule
    /// written back as `workoutIndex`, the app's unknown keys after the known ones.
    ///
    /// `Program(legacyJSON:)` of it gives this program back, for every program whose
    /// schedule names existing workouts. A schedule entry naming a missing workout id
    /// (possible only in a program built in code, which validation refuses) is written
    /// one past the end.
    public var legacyJSONBytes: [UInt8] {
        var writer = LegacyWriter(JSONWriter(style: .compact, reservingCapacity: 4096))
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
        var writer = LegacyWriter(JSONWriter(style: .canonical, reservingCapacity: 4096))
        writer.write(self)
        return writer.output.bytes
    }

    /// SHA-256 of `canonicalBytes`, as 64 hex digits: `program_versions.source_checksum`.
    public var canonicalChecksum: String {
        canonicalBytes.withUnsafeBytes { SHA256Checksum.hex($0) }
    }
}

/// Writes a program straight from its fields (no intermediate `JSONValue`), known keys in
/// the legacy order or, in canonical style, merged with the unknown keys in byte order.
struct LegacyWriter {
    var output: JSONWriter

    init(_ output: JSONWriter) {
        self.output = output
    }

    // Known keys per level: `allCases` is the compact order, `canonical` the byte order.
    private enum ProgramKey: String, LegacyKeySet {
        case name, workouts, schedule
        static let canonical = sortedCases
    }

    private enum WorkoutKey: String, LegacyKeySet {
        case id, name, exercises
        static let canonical = sortedCases
    }

    private enum ExerciseKey: String, LegacyKeySet {
        case id, name, sets, reps, restSeconds, weightKg
        static let canonical = sortedCases
    }

    private enum ScheduleKey: String, LegacyKeySet {
        case dayIndex, workoutIndex
        static let canonical = sortedCases
    }

    mutating func write(_ program: Program) {
        var positions: [String: Int] = [:]
        for (position, workout) in program.workouts.enumerated() where positions[workout.id] == nil {
            positions[workout.id] = position
        }
        writeObject(ProgramKey.self, unknown: program.unknownKeys) { writer, key in
            switch key {
            case .name: writer.output.writeString(program.name)
            case .workouts:
                writer.writeArray(program.workouts) { writer, workout in writer.write(workout) }
            case .schedule:
                writer.writeArray(program.schedule) { writer, entry in
                    let index: Int
                    switch entry.workout {
                    case .id(let id): index = positions[id] ?? program.workouts.count
                    case .index(let position): index = position
                    }
                    writer.writeObject(ScheduleKey.self, unknown: entry.unknownKeys) { writer, key in
                        switch key {
                        case .dayIndex: writer.output.writeInteger(entry.dayIndex)
                        case .workoutIndex: writer.output.writeInteger(index)
                        }
                    }
                }
            }
        }
    }

    private mutating func write(_ workout: Workout) {
        writeObject(WorkoutKey.self, unknown: workout.unknownKeys) { writer, key in
            switch key {
            case .id: writer.output.writeString(workout.id)
            case .name: writer.output.writeString(workout.name)
            case .exercises: writer.writeArray(workout.exercises) { writer, exercise in writer.write(exercise) }
            }
        }
    }

    private mutating func write(_ exercise: Exercise) {
        let canonical = output.style == .canonical
        // Bodyweight: absent, or `null` where the app wrote null (never in canonical form).
        let writesWeight = exercise.weightKg != nil || (exercise.writesNullWeight && !canonical)
        writeObject(ExerciseKey.self, unknown: exercise.unknownKeys, skipping: writesWeight ? nil : .weightKg) { writer, key in
            switch key {
            case .id: writer.output.writeString(exercise.id)
            case .name: writer.output.writeString(exercise.name)
            case .sets: writer.output.writeInteger(exercise.sets)
            case .reps: writer.output.writeInteger(exercise.reps)
            case .restSeconds: writer.output.writeInteger(exercise.restSeconds)
            case .weightKg:
                if let weight = exercise.weightKg { writer.output.write(.number(weight)) } else { writer.output.write(.null) }
            }
        }
    }

    private mutating func writeArray<Element>(_ elements: [Element], _ writeElement: (inout LegacyWriter, Element) -> Void) {
        output.bytes.append(UInt8(ascii: "["))
        for (position, element) in elements.enumerated() {
            if position > 0 { output.bytes.append(UInt8(ascii: ",")) }
            writeElement(&self, element)
        }
        output.bytes.append(UInt8(ascii: "]"))
    }

    /// An object of the known keys (minus `skipping`) and the app's `unknown` members.
    private mutating func writeObject<Key: LegacyKeySet>(
        _: Key.Type, unknown: JSONObject, skipping: Key? = nil, _ writeValue: (inout LegacyWriter, Key) -> Void
    ) {
        output.bytes.append(UInt8(ascii: "{"))
        var first = true
        func writeKnown(_ key: Key, _ writer: inout LegacyWriter) {
            if !first { writer.output.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.output.writeString(key.rawValue)
            writer.output.bytes.append(UInt8(ascii: ":"))
            writeValue(&writer, key)
        }
        func writeUnknown(_ member: (key: String, value: JSONValue), _ writer: inout LegacyWriter) {
            if !first { writer.output.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.output.writeMember(member.key, member.value)
        }
        if output.style == .canonical {
            let extra = unknown.members.count > 1
                ? unknown.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) } : unknown.members
            var next = 0
            for key in Key.canonical where key != skipping {
                while next < extra.count, extra[next].key.utf8.lexicographicallyPrecedes(key.rawValue.utf8) {
                    writeUnknown(extra[next], &self)
                    next += 1
                }
                writeKnown(key, &self)
            }
            for member in extra[next...] { writeUnknown(member, &self) }
        } else {
            for key in Key.allCases where key != skipping { writeKnown(key, &self) }
            for member in unknown.members { writeUnknown(member, &self) }
        }
        output.bytes.append(UInt8(ascii: "}"))
    }
}

/// The known keys of one level of the legacy format.
private protocol LegacyKeySet: RawRepresentable, CaseIterable, Equatable where RawValue == String, AllCases == [Self] {
    /// The keys in canonical (UTF-8 byte) order.
    static var canonical: [Self] { get }
}

extension LegacyKeySet {
    static var sortedCases: [Self] { allCases.sorted { $0.rawValue.utf8.lexicographicallyPrecedes($1.rawValue.utf8) } }
}
