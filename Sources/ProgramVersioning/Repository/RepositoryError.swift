import Foundation
import PostgresDriver
import ProgramDomain

/// Why a repository call did nothing. Every case leaves the database as it was.
public enum RepositoryError: Error, Sendable, CustomStringConvertible {
    /// No program has this id.
    case programNotFound(UUID)
    /// The program breaks invariants; all violations, each with its JSON path.
    case invalidProgram(ProgramValidationError)
    /// Someone saved since `expected` was read; re-read and apply the edit again.
    case conflict(programID: UUID, expected: Revision, current: Revision)
    /// The program has no workout with this id.
    case workoutNotFound(programID: UUID, workoutID: String)
    /// The program has no such version.
    case versionNotFound(programID: UUID, version: Int)
    /// The stored legacy JSON cannot be read, and the call needs it (e.g. a legacy read).
    case unreadableLegacy(programID: UUID, LegacyDecodingError)
    /// No session has this id (or it belongs to another user).
    case sessionNotFound(UUID)
    /// The session is COMPLETED or ABANDONED; only an IN_PROGRESS session takes sets.
    case sessionNotInProgress(UUID, status: String)
    /// The exercise is not part of the session's workout.
    case exerciseNotInWorkout(sessionID: UUID, exerciseID: String)
    /// A logged set with values no set can have.
    case invalidSet(String)
    /// The database failed (unreachable, timeout, ...); nothing was written.
    case database(PostgresError)

    public var description: String {
        switch self {
        case .programNotFound(let id):
            "program \(id) does not exist; check the id"
        case .invalidProgram(let error):
            "program not saved: \(error)"
        case .conflict(let id, let expected, let current):
            "program \(id) was saved by someone else (revision \(current), you had \(expected)); re-read it and apply your edit again"
        case .workoutNotFound(let id, let workoutID):
            "program \(id) has no workout \"\(workoutID)\"; re-read it and try again"
        case .versionNotFound(let id, let version):
            "program \(id) has no version \(version)"
        case .unreadableLegacy(let id, let error):
            "program \(id) cannot be read from its legacy JSON: \(error)"
        case .sessionNotFound(let id):
            "session \(id) does not exist; check the id"
        case .sessionNotInProgress(let id, let status):
            "session \(id) is \(status); start a new session to log sets"
        case .exerciseNotInWorkout(let sessionID, let exerciseID):
            "exercise \"\(exerciseID)\" is not part of the workout of session \(sessionID)"
        case .invalidSet(let why):
            "set not logged: \(why)"
        case .database(let error):
            "the database failed, nothing was written: \(error)"
        }
    }
}
