extension Program {
    /// The program in the legacy shape (DESIGN.md §2) as compact JSON: the schedule
    /// written back as `workoutIndex`, the app's unknown keys after the known ones.
    ///
    /// `Program(legacyJSON:)` of it gives this program back, for every program whose
    /// schedule names existing workouts. A schedule entry naming a missing workout id
    /// (possible only in a program built in code, which validation refuses) is written
    /// one past the end.
    public var legacyJSONBytes: [UInt8] {
        var writer = LegacyWriter(JSONWriter(style: .compact, reservingCapacity: 8192))
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
        var writer = LegacyWriter(JSONWriter(style: .canonical, reservingCapacity: 8192))
        writer.write(self)
        return writer.output.bytes
    }

    /// SHA-256 of `canonicalBytes`, as 64 hex digits: `program_versions.source_checksum`.
    public var canonicalChecksum: String {
        var writer = LegacyWriter(JSONWriter(style: .canonical, reservingCapacity: 8192))
        writer.write(self)
        return writer.output.buffer.withBytes { SHA256Checksum.hex($0) }
    }
}

/// Writes a program straight from its fields (no intermediate `JSONValue`, no closures):
/// each level walks its known keys in the style's order, and `ObjectWriter` slips the
/// app's own keys in (after the known ones, or by byte order in canonical style).
///
/// Workouts and exercises are read in place through pointers into their arrays: passed by
/// value, each was copied (every field retained, then released) once more per write.
struct LegacyWriter: ~Copyable {
    var output: JSONWriter
    private let canonical: Bool

    init(_ output: consuming JSONWriter) {
        canonical = output.style == .canonical
        self.output = output
    }

    mutating func write(_ program: Program) {
        var object = ObjectWriter(&output, unknown: program.unknownKeys)
        for key in canonical ? ProgramKey.canonical : ProgramKey.compact {
            object.beginMember(key, &output)
            switch key {
            case .name: output.writeString(program.name)
            case .workouts:
                output.buffer.append(UInt8(ascii: "["))
                program.workouts.withUnsafeBufferPointer { workouts in
                    for position in workouts.indices {
                        if position > 0 { output.buffer.append(UInt8(ascii: ",")) }
                        write(workouts.baseAddress! + position)
                    }
                }
                output.buffer.append(UInt8(ascii: "]"))
            case .schedule:
                output.buffer.append(UInt8(ascii: "["))
                for (position, entry) in program.schedule.enumerated() {
                    if position > 0 { output.buffer.append(UInt8(ascii: ",")) }
                    write(entry, workoutIndex: workoutIndex(of: entry.workout, in: program.workouts))
                }
                output.buffer.append(UInt8(ascii: "]"))
            }
        }
        object.end(&output)
    }

    /// The legacy index of a schedule entry's workout (one past the end for an unknown id).
    private func workoutIndex(of reference: WorkoutReference, in workouts: [Workout]) -> Int {
        switch reference {
        case .index(let position): return position
        case .id(let id): return workouts.firstIndex { $0.id == id } ?? workouts.count
        }
    }

    private mutating func write(_ workout: UnsafePointer<Workout>) {
        var object = ObjectWriter(&output, unknown: workout.pointee.unknownKeys)
        for key in canonical ? WorkoutKey.canonical : WorkoutKey.compact {
            object.beginMember(key, &output)
            switch key {
            case .id: output.writeString(workout.pointee.id)
            case .name: output.writeString(workout.pointee.name)
            case .exercises:
                output.buffer.append(UInt8(ascii: "["))
                workout.pointee.exercises.withUnsafeBufferPointer { exercises in
                    for position in exercises.indices {
                        if position > 0 { output.buffer.append(UInt8(ascii: ",")) }
                        write(exercises.baseAddress! + position)
                    }
                }
                output.buffer.append(UInt8(ascii: "]"))
            }
        }
        object.end(&output)
    }

    private mutating func write(_ exercise: UnsafePointer<Exercise>) {
        // Bodyweight: absent, or `null` where the app wrote null (never in canonical form).
        let writesWeight = exercise.pointee.weightKg != nil || (exercise.pointee.writesNullWeight && !canonical)
        guard !exercise.pointee.unknownKeys.isEmpty else { return writeKnownOnly(exercise, writesWeight: writesWeight) }
        var object = ObjectWriter(&output, unknown: exercise.pointee.unknownKeys)
        for key in canonical ? ExerciseKey.canonical : ExerciseKey.compact where writesWeight || key != .weightKg {
            object.beginMember(key, &output)
            switch key {
            case .id: output.writeString(exercise.pointee.id)
            case .name: output.writeString(exercise.pointee.name)
            case .sets: output.writeInteger(exercise.pointee.sets)
            case .reps: output.writeInteger(exercise.pointee.reps)
            case .restSeconds: output.writeInteger(exercise.pointee.restSeconds)
            case .weightKg:
                if let weight = exercise.pointee.weightKg { output.writeNumber(weight) } else { output.buffer.append("null") }
            }
        }
        object.end(&output)
    }

    /// An exercise without keys of the app's own, the common case, in one straight line:
    /// the same bytes as the general path, without merging unknown members.
    private mutating func writeKnownOnly(_ exercise: UnsafePointer<Exercise>, writesWeight: Bool) {
        output.buffer.append(UInt8(ascii: "{"))
        output.buffer.append(ExerciseKey.id.memberPrefix)
        output.writeString(exercise.pointee.id)
        beginKnownOnlyMember(ExerciseKey.name)
        output.writeString(exercise.pointee.name)
        if canonical {
            writeKnownOnlyMember(ExerciseKey.reps, exercise.pointee.reps)
            writeKnownOnlyMember(ExerciseKey.restSeconds, exercise.pointee.restSeconds)
            writeKnownOnlyMember(ExerciseKey.sets, exercise.pointee.sets)
        } else {
            writeKnownOnlyMember(ExerciseKey.sets, exercise.pointee.sets)
            writeKnownOnlyMember(ExerciseKey.reps, exercise.pointee.reps)
            writeKnownOnlyMember(ExerciseKey.restSeconds, exercise.pointee.restSeconds)
        }
        if writesWeight {
            beginKnownOnlyMember(ExerciseKey.weightKg)
            if let weight = exercise.pointee.weightKg { output.writeNumber(weight) } else { output.buffer.append("null") }
        }
        output.buffer.append(UInt8(ascii: "}"))
    }

    /// `,"key":` of a member after the first, spelled by the key table.
    @inline(__always)
    private mutating func beginKnownOnlyMember(_ key: some LegacyKeySet) {
        output.buffer.append(UInt8(ascii: ","))
        output.buffer.append(key.memberPrefix)
    }

    @inline(__always)
    private mutating func writeKnownOnlyMember(_ key: some LegacyKeySet, _ value: Int) {
        beginKnownOnlyMember(key)
        output.writeInteger(value)
    }

    private mutating func write(_ entry: ScheduleEntry, workoutIndex: Int) {
        if entry.unknownKeys.isEmpty {  // the same bytes in both styles
            output.buffer.append(UInt8(ascii: "{"))
            output.buffer.append(ScheduleKey.dayIndex.memberPrefix)
            output.writeInteger(entry.dayIndex)
            writeKnownOnlyMember(ScheduleKey.workoutIndex, workoutIndex)
            output.buffer.append(UInt8(ascii: "}"))
            return
        }
        var object = ObjectWriter(&output, unknown: entry.unknownKeys)
        for key in canonical ? ScheduleKey.canonical : ScheduleKey.compact {
            object.beginMember(key, &output)
            switch key {
            case .dayIndex: output.writeInteger(entry.dayIndex)
            case .workoutIndex: output.writeInteger(workoutIndex)
            }
        }
        object.end(&output)
    }
}

/// Writes one object's braces and separators, and the app's unknown members: in canonical
/// style each goes just before the first known key that sorts after it, else all go last.
private struct ObjectWriter {
    private let unknown: [(key: String, value: JSONValue)]
    private let canonical: Bool
    private var next = 0
    private var first = true

    init(_ output: inout JSONWriter, unknown: JSONObject) {
        canonical = output.style == .canonical
        self.unknown = unknown.isEmpty ? [] : output.orderedMembers(unknown)
        output.buffer.append(UInt8(ascii: "{"))
    }

    /// Writes the separator and `"key":` of a known key, after any unknown members that
    /// sort before it.
    mutating func beginMember<Key: LegacyKeySet>(_ key: Key, _ output: inout JSONWriter) {
        if canonical, next < unknown.count {
            while next < unknown.count, unknown[next].key.utf8.lexicographicallyPrecedes(key.name) {
                writeUnknown(unknown[next], &output)
                next += 1
            }
        }
        if !first { output.buffer.append(UInt8(ascii: ",")) }
        first = false
        output.buffer.append(key.memberPrefix)
    }

    mutating func end(_ output: inout JSONWriter) {
        while next < unknown.count {
            writeUnknown(unknown[next], &output)
            next += 1
        }
        output.buffer.append(UInt8(ascii: "}"))
    }

    private mutating func writeUnknown(_ member: (key: String, value: JSONValue), _ output: inout JSONWriter) {
        if !first { output.buffer.append(UInt8(ascii: ",")) }
        first = false
        output.writeMember(member.key, member.value)
    }
}
