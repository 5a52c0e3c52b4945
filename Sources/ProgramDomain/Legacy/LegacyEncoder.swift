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

/// Writes a program straight from its fields (no intermediate `JSONValue`, no closures):
/// each level walks its known keys in the style's order, and `UnknownMembers` slips the
/// app's own keys in (after the known ones, or by byte order in canonical style).
struct LegacyWriter {
    let output: JSONWriter
    private let canonical: Bool

    init(_ output: JSONWriter) {
        self.output = output
        canonical = output.style == .canonical
    }

    func write(_ program: Program) {
        let buffer = output.buffer
        var object = ObjectWriter(output, unknown: program.unknownKeys)
        for key in canonical ? ProgramKey.canonical : ProgramKey.compact {
            object.beginMember(key, output)
            switch key {
            case .name: output.writeString(program.name)
            case .workouts:
                buffer.append(UInt8(ascii: "["))
                program.workouts.withUnsafeBufferPointer { workouts in
                    // Through the buffer each workout is borrowed, not copied and retained.
                    for position in workouts.indices {
                        if position > 0 { buffer.append(UInt8(ascii: ",")) }
                        write(workouts[position])
                    }
                }
                buffer.append(UInt8(ascii: "]"))
            case .schedule:
                buffer.append(UInt8(ascii: "["))
                for (position, entry) in program.schedule.enumerated() {
                    if position > 0 { buffer.append(UInt8(ascii: ",")) }
                    write(entry, workoutIndex: workoutIndex(of: entry.workout, in: program.workouts))
                }
                buffer.append(UInt8(ascii: "]"))
            }
        }
        object.end(output)
    }

    /// The legacy index of a schedule entry's workout (one past the end for an unknown id).
    private func workoutIndex(of reference: WorkoutReference, in workouts: [Workout]) -> Int {
        switch reference {
        case .index(let position): return position
        case .id(let id): return workouts.firstIndex { $0.id == id } ?? workouts.count
        }
    }

    private func write(_ workout: borrowing Workout) {
        let buffer = output.buffer
        var object = ObjectWriter(output, unknown: workout.unknownKeys)
        for key in canonical ? WorkoutKey.canonical : WorkoutKey.compact {
            object.beginMember(key, output)
            switch key {
            case .id: output.writeString(workout.id)
            case .name: output.writeString(workout.name)
            case .exercises:
                buffer.append(UInt8(ascii: "["))
                workout.exercises.withUnsafeBufferPointer { exercises in
                    for position in exercises.indices {
                        if position > 0 { buffer.append(UInt8(ascii: ",")) }
                        write(exercises[position])
                    }
                }
                buffer.append(UInt8(ascii: "]"))
            }
        }
        object.end(output)
    }

    private func write(_ exercise: borrowing Exercise) {
        // Bodyweight: absent, or `null` where the app wrote null (never in canonical form).
        let writesWeight = exercise.weightKg != nil || (exercise.writesNullWeight && !canonical)
        guard !exercise.unknownKeys.isEmpty else { return writeKnownOnly(exercise, writesWeight: writesWeight) }
        var object = ObjectWriter(output, unknown: exercise.unknownKeys)
        for key in canonical ? ExerciseKey.canonical : ExerciseKey.compact where writesWeight || key != .weightKg {
            object.beginMember(key, output)
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
        object.end(output)
    }

    /// An exercise without keys of the app's own, the common case, in one straight line:
    /// the same bytes as the general path, without merging unknown members.
    private func writeKnownOnly(_ exercise: borrowing Exercise, writesWeight: Bool) {
        let buffer = output.buffer
        buffer.append(#"{"id":"#)
        output.writeString(exercise.id)
        buffer.append(#","name":"#)
        output.writeString(exercise.name)
        if canonical {
            buffer.append(#","reps":"#)
            output.writeInteger(exercise.reps)
            buffer.append(#","restSeconds":"#)
            output.writeInteger(exercise.restSeconds)
            buffer.append(#","sets":"#)
            output.writeInteger(exercise.sets)
        } else {
            buffer.append(#","sets":"#)
            output.writeInteger(exercise.sets)
            buffer.append(#","reps":"#)
            output.writeInteger(exercise.reps)
            buffer.append(#","restSeconds":"#)
            output.writeInteger(exercise.restSeconds)
        }
        if writesWeight {
            buffer.append(#","weightKg":"#)
            if let weight = exercise.weightKg { output.writeNumber(weight) } else { buffer.append("null") }
        }
        buffer.append(UInt8(ascii: "}"))
    }

    private func write(_ entry: ScheduleEntry, workoutIndex: Int) {
        if entry.unknownKeys.isEmpty {  // the same bytes in both styles
            output.buffer.append(#"{"dayIndex":"#)
            output.writeInteger(entry.dayIndex)
            output.buffer.append(#","workoutIndex":"#)
            output.writeInteger(workoutIndex)
            output.buffer.append(UInt8(ascii: "}"))
            return
        }
        var object = ObjectWriter(output, unknown: entry.unknownKeys)
        for key in canonical ? ScheduleKey.canonical : ScheduleKey.compact {
            object.beginMember(key, output)
            switch key {
            case .dayIndex: output.writeInteger(entry.dayIndex)
            case .workoutIndex: output.writeInteger(workoutIndex)
            }
        }
        object.end(output)
    }
}

/// Writes one object's braces and separators, and the app's unknown members: in canonical
/// style each goes just before the first known key that sorts after it, else all go last.
private struct ObjectWriter {
    private let unknown: [(key: String, value: JSONValue)]
    private let canonical: Bool
    private var next = 0
    private var first = true

    init(_ output: JSONWriter, unknown: JSONObject) {
        canonical = output.style == .canonical
        self.unknown = unknown.isEmpty ? [] : output.orderedMembers(unknown)
        output.buffer.append(UInt8(ascii: "{"))
    }

    /// Writes the separator and `"key":` of a known key, after any unknown members that
    /// sort before it.
    mutating func beginMember<Key: LegacyKeySet>(_ key: Key, _ output: JSONWriter) {
        if canonical, next < unknown.count {
            while next < unknown.count, unknown[next].key.utf8.lexicographicallyPrecedes(key.name) {
                writeUnknown(unknown[next], output)
                next += 1
            }
        }
        if !first { output.buffer.append(UInt8(ascii: ",")) }
        first = false
        output.buffer.append(key.memberPrefix)
    }

    mutating func end(_ output: JSONWriter) {
        while next < unknown.count {
            writeUnknown(unknown[next], output)
            next += 1
        }
        output.buffer.append(UInt8(ascii: "}"))
    }

    private mutating func writeUnknown(_ member: (key: String, value: JSONValue), _ output: JSONWriter) {
        if !first { output.buffer.append(UInt8(ascii: ",")) }
        first = false
        output.writeMember(member.key, member.value)
    }
}
