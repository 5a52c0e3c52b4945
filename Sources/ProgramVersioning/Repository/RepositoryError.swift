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
    /// The connection was lost while the save committed: it may be saved or not. Retry
    /// with the same idempotency key (or, without one, re-read the program) to know.
    case outcomeUnknown(programID: UUID, idempotencyKey: UUID?)
    /// An idempotency key already used for a save of another program.
    case idempotencyKeyReused(UUID, programID: UUID)
    /// The database failed (unreachable, timeout, ...); nothing was written, unless the
    /// error's code is `.commitOutcomeUnknown` (the connection was lost while committing).
    case database(PGError)
    /// A stored version's rows do not make a program (changed behind the library's back).
    case unreadableVersion(programID: UUID, UnreadableVersion)
    /// The calling task was cancelled (a request timed out, the service shuts down): a
    /// statement not yet sent was not sent, a running one was stopped by the server, and
    /// nothing was written.
    case cancelled
    /// A failure none of the cases above describes, kept as it was thrown (e.g. by a
    /// closure the caller passed in).
    case unexpected(any Error)

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
        case .outcomeUnknown(let id, let key):
            "the connection was lost while program \(id) was being saved: it may or may not be saved; "
                + (key.map { "retry with the same idempotency key \($0) to get the first outcome" } ?? "re-read the program to see")
        case .idempotencyKeyReused(let key, let id):
            "idempotency key \(key) was already used for another program than \(id); use a new key for each save"
        case .database(let error) where error.code == .commitOutcomeUnknown:
            "the connection was lost while the change committed: it may or may not be written; read it back to know (\(error))"
        case .database(let error):
            "the database failed, nothing was written: \(error)"
        case .unreadableVersion(let id, let error):
            "program \(id) cannot be read from its versions: \(error)"
        case .cancelled:
            "the call was cancelled before it finished; nothing was written"
        case .unexpected(let error):
            "the call failed, nothing was written: \(error)"
        }
    }
}
