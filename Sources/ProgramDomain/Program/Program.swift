/// A training program: what the app stores in `programs.program_json`, with workouts that
/// keep stable ids and a schedule that names workouts by id, not by position.
///
/// Keys the app wrote that this library does not model are kept in `unknownKeys` at every
/// level and written back unchanged.
public struct Program: Sendable, Hashable {
    public var name: String
    public var workouts: [Workout]
    public var schedule: [ScheduleEntry]
    public var unknownKeys: JSONObject

    public init(name: String, workouts: [Workout], schedule: [ScheduleEntry], unknownKeys: JSONObject = [:]) {
        self.name = name
        self.workouts = workouts
        self.schedule = schedule
        self.unknownKeys = unknownKeys
    }

    /// The position of the first workout with `id`.
    public func workoutPosition(of id: String) -> Int? {
        workouts.firstIndex { $0.id == id }
    }

    /// The workout position a schedule entry points at, if it points at one.
    public func position(of reference: WorkoutReference) -> Int? {
        switch reference {
        case .id(let id): workoutPosition(of: id)
        case .index(let index): workouts.indices.contains(index) ? index : nil
        }
    }
}

/// One workout: a stable id, a name and its exercises in order.
public struct Workout: Sendable, Hashable {
    public var id: String
    public var name: String
    public var exercises: [Exercise]
    public var unknownKeys: JSONObject

    public init(id: String, name: String, exercises: [Exercise], unknownKeys: JSONObject = [:]) {
        self.id = id
        self.name = name
        self.exercises = exercises
        self.unknownKeys = unknownKeys
    }
}

/// One exercise of a workout. `weightKg` nil is bodyweight.
public struct Exercise: Sendable, Hashable {
    public var id: String
    public var name: String
    public var sets: Int
    public var reps: Int
    public var restSeconds: Int
    /// Exact, as written (`82.5` stays `82.5`); nil for bodyweight.
    public var weightKg: JSONNumber?
    /// The legacy JSON spelled bodyweight as `"weightKg": null` rather than leaving the key
    /// out; kept only so encoding gives back the same JSON. A spelling, like `"5"` for 5:
    /// not part of equality, the canonical form or the versioned tables.
    public var writesNullWeight: Bool
    public var unknownKeys: JSONObject

    public init(
        id: String, name: String, sets: Int, reps: Int, restSeconds: Int, weightKg: JSONNumber? = nil,
        writesNullWeight: Bool = false, unknownKeys: JSONObject = [:]
    ) {
        self.id = id
        self.name = name
        self.sets = sets
        self.reps = reps
        self.restSeconds = restSeconds
        self.weightKg = weightKg
        self.writesNullWeight = writesNullWeight
        self.unknownKeys = unknownKeys
    }

    public static func == (lhs: Exercise, rhs: Exercise) -> Bool {
        lhs.id == rhs.id && lhs.name == rhs.name && lhs.sets == rhs.sets && lhs.reps == rhs.reps
            && lhs.restSeconds == rhs.restSeconds && lhs.weightKg == rhs.weightKg && lhs.unknownKeys == rhs.unknownKeys
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(name)
        hasher.combine(sets)
        hasher.combine(reps)
        hasher.combine(restSeconds)
        hasher.combine(weightKg)
        hasher.combine(unknownKeys)
    }
}

/// A day of the week (`dayIndex` 0 = Monday ... 6 = Sunday) and the workout done on it.
public struct ScheduleEntry: Sendable, Hashable {
    public var dayIndex: Int
    public var workout: WorkoutReference
    public var unknownKeys: JSONObject

    public init(dayIndex: Int, workout: WorkoutReference, unknownKeys: JSONObject = [:]) {
        self.dayIndex = dayIndex
        self.workout = workout
        self.unknownKeys = unknownKeys
    }

    public init(dayIndex: Int, workoutID: String, unknownKeys: JSONObject = [:]) {
        self.init(dayIndex: dayIndex, workout: .id(workoutID), unknownKeys: unknownKeys)
    }
}

/// How a schedule entry names its workout.
public enum WorkoutReference: Sendable, Hashable {
    /// By stable id: the only form a valid program has.
    case id(String)
    /// A legacy `workoutIndex` that names no single workout: past the end of `workouts`
    /// (the deletion bug) or at a workout whose id is repeated. Kept so such data can be
    /// reported and written back exactly; validation refuses it.
    case index(Int)
}
