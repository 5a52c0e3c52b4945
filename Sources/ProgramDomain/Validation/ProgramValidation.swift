/// One broken invariant: where (a path in the legacy JSON), which rule, and a sentence an
/// app can show its user.
public struct Violation: Sendable, Hashable, CustomStringConvertible {
    public var path: JSONPath
    public var rule: Rule
    public var message: String

    public init(path: JSONPath, rule: Rule, message: String) {
        self.path = path
        self.rule = rule
        self.message = message
    }

    /// The invariants of DESIGN.md §2, checked before any save.
    public enum Rule: String, Sendable, Hashable, CaseIterable {
        case nameEmpty = "NAME_EMPTY"
        case nameTooLong = "NAME_TOO_LONG"
        case workoutIDEmpty = "WORKOUT_ID_EMPTY"
        case workoutIDRepeated = "WORKOUT_ID_REPEATED"
        case exerciseIDRepeated = "EXERCISE_ID_REPEATED"
        case setsOutOfRange = "SETS_OUT_OF_RANGE"
        case repsOutOfRange = "REPS_OUT_OF_RANGE"
        case restSecondsOutOfRange = "REST_SECONDS_OUT_OF_RANGE"
        case weightOutOfRange = "WEIGHT_OUT_OF_RANGE"
        case dayIndexOutOfRange = "DAY_INDEX_OUT_OF_RANGE"
        case workoutIndexOutOfRange = "WORKOUT_INDEX_OUT_OF_RANGE"
        case scheduleEntryRepeated = "SCHEDULE_ENTRY_REPEATED"
    }

    public var description: String { "\(path): \(message)" }
}

/// A save refused because the program breaks invariants; lists all of them.
public struct ProgramValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var violations: [Violation]

    public init(violations: [Violation]) {
        self.violations = violations
    }

    public var description: String {
        let more = violations.count > 1 ? " (and \(violations.count - 1) more)" : ""
        return "the program breaks \(violations.count) rule\(violations.count == 1 ? "" : "s"): \(violations.first.map(String.init(describing:)) ?? "")\(more)"
    }
}

/// The limits DESIGN.md §2 sets.
public enum ProgramLimits {
    public static let nameLength = 200
    public static let sets = 1...20
    public static let reps = 1...100
    public static let restSeconds = 0...1800
    public static let weightKg = 0...1000
    public static let dayIndex = 0...6
}

extension Program {
    /// Every broken invariant, in document order; empty when the program may be saved.
    public var violations: [Violation] {
        var found: [Violation] = []
        checkName(into: &found)
        checkWorkouts(into: &found)
        checkSchedule(into: &found)
        return found
    }

    /// Throws all violations at once when there are any.
    public func validate() throws(ProgramValidationError) {
        let found = violations
        if !found.isEmpty { throw ProgramValidationError(violations: found) }
    }

    private func checkName(into found: inout [Violation]) {
        if name.isEmpty {
            found.append(Violation(path: "name", rule: .nameEmpty, message: "The program needs a name."))
        } else if name.utf8.count > ProgramLimits.nameLength, name.count > ProgramLimits.nameLength {
            found.append(Violation(
                path: "name", rule: .nameTooLong,
                message: "The program name can have at most \(ProgramLimits.nameLength) characters; it has \(name.count)."))
        }
    }

    private func checkWorkouts(into found: inout [Violation]) {
        let firstWorkoutWithID = FirstOccurrence(workouts.count) { workouts[$0].id }
        // Through buffers each workout and exercise is borrowed, not copied and retained.
        workouts.withUnsafeBufferPointer { workouts in
            for position in workouts.indices {
                check(workouts[position], at: position, firstWorkoutWithID, into: &found)
            }
        }
    }

    private func check(_ workout: Workout, at position: Int, _ firstWorkoutWithID: FirstOccurrence<String>, into found: inout [Violation]) {
        if workout.id.isEmpty {
            found.append(Violation(path: JSONPath.workout(position).appending("id"), rule: .workoutIDEmpty, message: "Workout \"\(workout.name)\" needs an id."))
        } else if let first = firstWorkoutWithID.earlier(than: position) {
            found.append(Violation(
                path: JSONPath.workout(position).appending("id"), rule: .workoutIDRepeated,
                message: "Workout id \"\(workout.id)\" is already used by \(JSONPath.workout(first)); each workout needs its own id."))
        }
        let firstExerciseWithID = FirstOccurrence(workout.exercises.count) { workout.exercises[$0].id }
        workout.exercises.withUnsafeBufferPointer { exercises in
            for exercisePosition in exercises.indices {
                if let first = firstExerciseWithID.earlier(than: exercisePosition) {
                    found.append(Violation(
                        path: JSONPath.exercise(exercisePosition, inWorkout: position).appending("id"), rule: .exerciseIDRepeated,
                        message: "Exercise id \"\(exercises[exercisePosition].id)\" is already used by \(JSONPath.exercise(first, inWorkout: position)) in this workout."))
                }
                check(exercises[exercisePosition], at: (workout: position, exercise: exercisePosition), into: &found)
            }
        }
    }

    private func check(_ exercise: Exercise, at location: (workout: Int, exercise: Int), into found: inout [Violation]) {
        // Paths are built only for a violation: the valid case must stay cheap.
        var path: JSONPath { JSONPath.exercise(location.exercise, inWorkout: location.workout) }
        func range(_ value: Int, _ limits: ClosedRange<Int>, _ key: String, _ rule: Violation.Rule, _ what: String) {
            guard !limits.contains(value) else { return }
            found.append(Violation(
                path: path.appending(key), rule: rule,
                message: "\(what) of \"\(exercise.name)\" must be between \(limits.lowerBound) and \(limits.upperBound); it is \(value)."))
        }
        range(exercise.sets, ProgramLimits.sets, "sets", .setsOutOfRange, "Sets")
        range(exercise.reps, ProgramLimits.reps, "reps", .repsOutOfRange, "Reps")
        range(exercise.restSeconds, ProgramLimits.restSeconds, "restSeconds", .restSecondsOutOfRange, "Rest (seconds)")
        if let weight = exercise.weightKg, !weight.isWithin(ProgramLimits.weightKg) {
            found.append(Violation(
                path: path.appending("weightKg"), rule: .weightOutOfRange,
                message: "Weight of \"\(exercise.name)\" must be between \(ProgramLimits.weightKg.lowerBound) and \(ProgramLimits.weightKg.upperBound) kg; it is \(weight.canonical)."))
        }
    }

    private func checkSchedule(into found: inout [Violation]) {
        var targets: [DayAndWorkout?] = []
        targets.reserveCapacity(schedule.count)
        for (position, entry) in schedule.enumerated() {
            var path: JSONPath { JSONPath.scheduleEntry(position) }
            if !ProgramLimits.dayIndex.contains(entry.dayIndex) {
                found.append(Violation(
                    path: path.appending("dayIndex"), rule: .dayIndexOutOfRange,
                    message: "Schedule day must be 0 (Monday) to 6 (Sunday); it is \(entry.dayIndex)."))
            }
            let workoutPosition = self.position(of: entry.workout)
            switch entry.workout {
            case .index(let index) where workoutPosition == nil:
                found.append(Violation(
                    path: path.appending("workoutIndex"), rule: .workoutIndexOutOfRange,
                    message: "Schedule entry points at workout \(index), but the program has \(workouts.count) workout\(workouts.count == 1 ? "" : "s")."))
            case .id(let id) where workoutPosition == nil:
                found.append(Violation(
                    path: path.appending("workoutIndex"), rule: .workoutIndexOutOfRange,
                    message: "Schedule entry points at workout id \"\(id)\", which the program does not have."))
            default:
                break
            }
            targets.append(workoutPosition.map { DayAndWorkout(day: entry.dayIndex, workout: $0) })
        }
        let firstEntry = FirstOccurrence(targets.count) { targets[$0] }
        for position in targets.indices where targets[position] != nil {
            if let first = firstEntry.earlier(than: position) {
                found.append(Violation(
                    path: JSONPath.scheduleEntry(position), rule: .scheduleEntryRepeated,
                    message: "The schedule already has this workout on this day (\(JSONPath.scheduleEntry(first)))."))
            }
        }
    }
}

private struct DayAndWorkout: Hashable {
    var day: Int
    var workout: Int
}

/// For each position, the first earlier position holding an equal value. Programs have a
/// handful of items per level, where comparing pairs beats hashing; long lists are hashed.
private struct FirstOccurrence<Value: Hashable> {
    private let value: (Int) -> Value
    private let firstPositions: [Value: Int]?

    init(_ count: Int, _ value: @escaping (Int) -> Value) {
        self.value = value
        if count > 32 {
            var firsts: [Value: Int] = [:]
            for position in 0..<count where firsts[value(position)] == nil { firsts[value(position)] = position }
            firstPositions = firsts
        } else {
            firstPositions = nil
        }
    }

    func earlier(than position: Int) -> Int? {
        let wanted = value(position)
        if let firstPositions {
            let first = firstPositions[wanted]!
            return first < position ? first : nil
        }
        for earlier in 0..<position where value(earlier) == wanted { return earlier }
        return nil
    }
}
