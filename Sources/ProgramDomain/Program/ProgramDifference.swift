/// One field on which two programs disagree, named the way an operator reads it:
/// `workouts[w-upper-a].exercises[e-bench].reps` (items by id, not position).
public struct ProgramDifference: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    /// The value in the first program; nil where it has no such item or key.
    public var left: JSONValue?
    /// The value in the second program; nil where it has no such item or key.
    public var right: JSONValue?

    public init(path: String, left: JSONValue?, right: JSONValue?) {
        self.path = path
        self.left = left
        self.right = right
    }

    public var description: String {
        "\(path): \(left.map(\.jsonText) ?? "(absent)") vs \(right.map(\.jsonText) ?? "(absent)")"
    }
}

extension Program {
    /// Every field on which `other` differs from this program, workouts and exercises
    /// matched by id. Text is compared byte for byte: the NFC and NFD forms of a name are
    /// equal as Swift strings, but an app reading one side gets other bytes than the other.
    public func differences(from other: Program) -> [ProgramDifference] {
        var found: [ProgramDifference] = []
        func compare(_ path: String, _ left: JSONValue?, _ right: JSONValue?) {
            if !Self.identical(left, right) { found.append(ProgramDifference(path: path, left: left, right: right)) }
        }
        func compareUnknown(_ prefix: String, _ left: JSONObject, _ right: JSONObject) {
            for member in left.members { compare(prefix + member.key, member.value, right[member.key]) }
            for member in right.members where left[member.key] == nil { compare(prefix + member.key, nil, member.value) }
        }

        compare("name", .string(name), .string(other.name))
        compareUnknown("", unknownKeys, other.unknownKeys)
        for (position, workout) in workouts.enumerated() {
            let path = "workouts[\(workout.id)]"
            guard let otherPosition = other.workoutPosition(of: workout.id) else {
                compare(path, .string(workout.name), nil)
                continue
            }
            let counterpart = other.workouts[otherPosition]
            compare(path + ".name", .string(workout.name), .string(counterpart.name))
            compare(path + ".position", .number(JSONNumber(position)), .number(JSONNumber(otherPosition)))
            compareUnknown(path + ".", workout.unknownKeys, counterpart.unknownKeys)
            for (exercisePosition, exercise) in workout.exercises.enumerated() {
                let exercisePath = path + ".exercises[\(exercise.id)]"
                guard let otherIndex = counterpart.exercises.firstIndex(where: { $0.id == exercise.id }) else {
                    compare(exercisePath, .string(exercise.name), nil)
                    continue
                }
                let theirs = counterpart.exercises[otherIndex]
                compare(exercisePath + ".name", .string(exercise.name), .string(theirs.name))
                compare(exercisePath + ".position", .number(JSONNumber(exercisePosition)), .number(JSONNumber(otherIndex)))
                compare(exercisePath + ".sets", .number(JSONNumber(exercise.sets)), .number(JSONNumber(theirs.sets)))
                compare(exercisePath + ".reps", .number(JSONNumber(exercise.reps)), .number(JSONNumber(theirs.reps)))
                compare(exercisePath + ".restSeconds", .number(JSONNumber(exercise.restSeconds)), .number(JSONNumber(theirs.restSeconds)))
                compare(exercisePath + ".weightKg", exercise.weightKg.map(JSONValue.number) ?? .null, theirs.weightKg.map(JSONValue.number) ?? .null)
                compareUnknown(exercisePath + ".", exercise.unknownKeys, theirs.unknownKeys)
            }
            for theirs in counterpart.exercises where !workout.exercises.contains(where: { $0.id == theirs.id }) {
                compare(path + ".exercises[\(theirs.id)]", nil, .string(theirs.name))
            }
        }
        for workout in other.workouts where workoutPosition(of: workout.id) == nil {
            compare("workouts[\(workout.id)]", nil, .string(workout.name))
        }
        let mine = schedule.map { scheduleValue($0) }, theirs = other.schedule.map { other.scheduleValue($0) }
        for index in 0..<max(mine.count, theirs.count) {
            compare("schedule[\(index)]", index < mine.count ? mine[index] : nil, index < theirs.count ? theirs[index] : nil)
        }
        return found
    }

    /// JSON equality, but strings (values and keys) byte for byte.
    private static func identical(_ left: JSONValue?, _ right: JSONValue?) -> Bool {
        switch (left, right) {
        case (nil, nil): return true
        case (.string(let a)?, .string(let b)?): return a.utf8.elementsEqual(b.utf8)
        case (.array(let a)?, .array(let b)?): return a.count == b.count && zip(a, b).allSatisfy { identical($0, $1) }
        case (.object(let a)?, .object(let b)?):
            return a.count == b.count && a.members.allSatisfy { member in
                b.members.contains { $0.key.utf8.elementsEqual(member.key.utf8) && identical(member.value, $0.value) }
            }
        default: return left == right
        }
    }

    /// A schedule entry as `{"dayIndex":..,"workoutId":..}` plus its unknown keys.
    private func scheduleValue(_ entry: ScheduleEntry) -> JSONValue {
        var object = JSONObject([(key: "dayIndex", value: .number(JSONNumber(entry.dayIndex)))])
        switch entry.workout {
        case .id(let id): object.set("workoutId", .string(id))
        case .index(let index): object.set("workoutIndex", .number(JSONNumber(index)))
        }
        for member in entry.unknownKeys.members { object.set(member.key, member.value) }
        return .object(object)
    }
}
