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
        // Workouts and exercises are read in place through pointers: passed by value, each
        // was copied (every field retained, then released) for every check.
        let sameID = IDEquality()
        workouts.withUnsafeBufferPointer { workouts in
            let repeatedIDs = Repeats(count: workouts.count, same: sameID.callAsFunction) { workouts[$0].id }
            for position in workouts.indices {
                let workout = workouts.baseAddress! + position
                if workout.pointee.id.isEmpty {
                    found.append(Violation(
                        path: JSONPath.workout(position).appending("id"), rule: .workoutIDEmpty,
                        message: "Workout \"\(workout.pointee.name)\" needs an id."))
                } else if let first = repeatedIDs.earlier(than: position) {
                    found.append(Violation(
                        path: JSONPath.workout(position).appending("id"), rule: .workoutIDRepeated,
                        message: "Workout id \"\(workout.pointee.id)\" is already used by \(JSONPath.workout(first)); each workout needs its own id."))
                }
                workout.pointee.exercises.withUnsafeBufferPointer { exercises in
                    checkExercises(exercises, inWorkout: position, sameID: sameID, into: &found)
                }
            }
        }
    }

    private func checkExercises(
        _ exercises: UnsafeBufferPointer<Exercise>, inWorkout workout: Int, sameID: IDEquality, into found: inout [Violation]
    ) {
        let repeatedIDs = Repeats(count: exercises.count, same: sameID.callAsFunction) { exercises[$0].id }
        for position in exercises.indices {
            if let first = repeatedIDs.earlier(than: position) {
                found.append(Violation(
                    path: JSONPath.exercise(position, inWorkout: workout).appending("id"), rule: .exerciseIDRepeated,
                    message: "Exercise id \"\(exercises[position].id)\" is already used by \(JSONPath.exercise(first, inWorkout: workout)) in this workout."))
            }
            let exercise = exercises.baseAddress! + position
            let inRange = ProgramLimits.sets.contains(exercise.pointee.sets) && ProgramLimits.reps.contains(exercise.pointee.reps)
                && ProgramLimits.restSeconds.contains(exercise.pointee.restSeconds)
                && exercise.pointee.weightKg.map { $0.isWithin(ProgramLimits.weightKg) } != false
            if !inRange { reportRanges(of: exercise.pointee, at: JSONPath.exercise(position, inWorkout: workout), into: &found) }
        }
    }

    /// The range violations of one exercise; kept out of the loop, which only tests.
    private func reportRanges(of exercise: Exercise, at path: JSONPath, into found: inout [Violation]) {
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
        let repeatedEntries = Repeats(count: targets.count) { targets[$0] }
        for position in targets.indices where targets[position] != nil {
            if let first = repeatedEntries.earlier(than: position) {
                found.append(Violation(
                    path: JSONPath.scheduleEntry(position), rule: .scheduleEntryRepeated,
                    message: "The schedule already has this workout on this day (\(JSONPath.scheduleEntry(first)))."))
            }
        }
    }
}

/// `==` for ids, from the bits alone when both are short ASCII strings (`SmallASCIIString`):
/// most ids compared are different ones, which `==` hands to the standard library's general
/// comparison.
private struct IDEquality {
    private let comparesSmallStrings = SmallASCIIString.layoutHolds

    @inline(__always)
    func callAsFunction(_ a: String, _ b: String) -> Bool {
        comparesSmallStrings ? SmallASCIIString.equal(a, b) : a == b
    }
}

private struct DayAndWorkout: Hashable {
    var day: Int
    var workout: Int
}

/// The positions whose value repeats an earlier one, each with the first earlier position
/// holding it; found once, before the checks that report them in document order. Programs
/// have a handful of items per level, where comparing pairs beats hashing; long lists are
/// hashed. Usually nothing repeats, and nothing is allocated.
private struct Repeats {
    private var firsts: [(position: Int, first: Int)] = []

    /// `same` is `==`, or a faster test that agrees with it (ids: `SmallASCIIString.equal`).
    @inline(__always)
    init<Value: Hashable>(count: Int, same: (Value, Value) -> Bool = { $0 == $1 }, _ value: (Int) -> Value) {
        if count > 32 {
            var firstPositions: [Value: Int] = [:]
            for position in 0..<count {
                if let first = firstPositions[value(position)] {
                    firsts.append((position, first))
                } else {
                    firstPositions[value(position)] = position
                }
            }
            return
        }
        for position in 0..<count {
            let wanted = value(position)
            for earlier in 0..<position where same(value(earlier), wanted) {
                firsts.append((position, earlier))
                break
            }
        }
    }

    /// The first earlier position with the same value as `position`.
    func earlier(than position: Int) -> Int? {
        firsts.first { $0.position == position }?.first
    }
}
