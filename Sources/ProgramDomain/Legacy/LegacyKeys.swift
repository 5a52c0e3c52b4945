/// The keys of one level of the legacy format that a `Program` models, shared by the
/// decoder (which recognizes them) and the writer (which writes them in a style's order).
/// Stored, so neither allocates for them.
protocol LegacyKeySet: CaseIterable, Equatable, RawRepresentable where RawValue == Int, AllCases == [Self] {
    /// `"key":`, the bytes written before a member's value.
    var memberPrefix: StaticString { get }
    /// In the order the compact style writes them (the app's usual order).
    static var compact: [Self] { get }
    /// In UTF-8 byte order of the keys: the canonical style's order.
    static var canonical: [Self] { get }
}

extension LegacyKeySet {
    /// `"key"`, quotes included: how the key appears in the input when written plainly.
    var quoted: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: memberPrefix.utf8Start, count: memberPrefix.utf8CodeUnitCount - 1)
    }

    /// The key's own bytes, without quotes.
    var name: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: memberPrefix.utf8Start + 1, count: memberPrefix.utf8CodeUnitCount - 3)
    }
}

enum ProgramKey: Int, LegacyKeySet {
    case name, workouts, schedule
    static let compact: [Self] = [.name, .workouts, .schedule]
    static let canonical: [Self] = [.name, .schedule, .workouts]

    var memberPrefix: StaticString {
        switch self {
        case .name: #""name":"#
        case .workouts: #""workouts":"#
        case .schedule: #""schedule":"#
        }
    }
}

enum WorkoutKey: Int, LegacyKeySet {
    case id, name, exercises
    static let compact: [Self] = [.id, .name, .exercises]
    static let canonical: [Self] = [.exercises, .id, .name]

    var memberPrefix: StaticString {
        switch self {
        case .id: #""id":"#
        case .name: #""name":"#
        case .exercises: #""exercises":"#
        }
    }
}

enum ExerciseKey: Int, LegacyKeySet {
    case id, name, sets, reps, restSeconds, weightKg
    static let compact: [Self] = [.id, .name, .sets, .reps, .restSeconds, .weightKg]
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

enum ScheduleKey: Int, LegacyKeySet {
    case dayIndex, workoutIndex
    static let compact: [Self] = [.dayIndex, .workoutIndex]
    static let canonical: [Self] = [.dayIndex, .workoutIndex]

    var memberPrefix: StaticString {
        switch self {
        case .dayIndex: #""dayIndex":"#
        case .workoutIndex: #""workoutIndex":"#
        }
    }
}
