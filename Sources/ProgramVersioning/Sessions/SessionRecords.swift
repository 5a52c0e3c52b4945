import Foundation
import ProgramDomain

/// A session just started.
public struct StartedSession: Sendable, Hashable {
    public var id: UUID
    /// The workout's name at the start, kept with the session for good.
    public var workoutName: String
    /// The version the session ran against, when the program had a current one.
    public var programVersionID: UUID?
    public var workoutVersionID: UUID?
    /// The user's sessions that were still IN_PROGRESS and are now ABANDONED.
    public var abandoned: [UUID]
}

/// One session of a user's history, with the workout name it had at the time.
public struct SessionSummary: Sendable, Hashable {
    public var id: UUID
    public var programID: UUID
    public var workoutID: String
    /// The name when the session ran; nil only for old rows whose JSON could not be read.
    public var workoutName: String?
    public var status: String
    public var startedAt: Date
    public var completedAt: Date?
    public var setCount: Int
}

/// One logged set.
public struct LoggedSet: Sendable, Hashable {
    public var setIndex: Int
    public var reps: Int
    public var weightKg: JSONNumber?
    public var loggedAt: Date
}

/// The most recent session in which the user logged an exercise, and its sets.
public struct Performance: Sendable, Hashable {
    public var sessionID: UUID
    public var workoutName: String?
    public var startedAt: Date
    public var sets: [LoggedSet]
}
