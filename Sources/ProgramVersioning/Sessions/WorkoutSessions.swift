import Foundation
import Logging
import PostgresDriver
import ProgramDomain

/// Workout sessions and logged sets, kept meaningful across every edit of the program:
/// a session stores the workout's name as it was (`workout_name_snapshot`) and, when the
/// program has a current version, the exact version rows it ran against.
///
/// A user has at most one IN_PROGRESS session: starting a new one marks the previous one
/// ABANDONED in the same transaction (no background job, no timeout to tune).
public final class WorkoutSessions: Sendable {
    private let pool: PGPool
    private let logger: Logger

    public init(pool: PGPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Starts `workoutID` of the user's program now.
    public func start(
        userID: UUID, programID: UUID, workoutID: String, sessionID: UUID = UUID()
    ) async throws(RepositoryError) -> StartedSession {
        let logger = self.logger
        return try await pool.repositoryCall { connection in
            try await connection.transaction { connection in
                // One start at a time per user, so two racing starts cannot both stay open.
                try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(userID.uuidString), 5887940537704921958))")
                // The row is shared-locked: no save changes the program until the session is in.
                guard let head = try await ProgramHead.load(programID, .sharedForOwner(userID), on: connection) else {
                    throw RepositoryError.programNotFound(programID)
                }
                let (program, versionID) = try await Self.currentProgram(programID, head: head, on: connection)
                guard let workout = program.workouts.first(where: { $0.id == workoutID }) else {
                    throw RepositoryError.workoutNotFound(programID: programID, workoutID: workoutID)
                }
                let inserted = try await connection.query("""
                    WITH abandoned AS (
                      UPDATE workout_sessions SET status = 'ABANDONED'
                       WHERE user_id = \(userID) AND status = 'IN_PROGRESS'
                      RETURNING id
                    ), started AS (
                      INSERT INTO workout_sessions
                        (id, user_id, program_id, workout_id, status, workout_name_snapshot, program_version_id, workout_version_id)
                      SELECT \(sessionID), \(userID), \(programID), \(workoutID), 'IN_PROGRESS', \(workout.name), \(versionID)::uuid,
                             (SELECT w.id FROM program_version_workouts w
                               WHERE w.program_id = \(programID) AND w.program_version_id = \(versionID) AND w.workout_id = \(workoutID))
                      RETURNING workout_version_id
                    )
                    SELECT (SELECT workout_version_id FROM started), (SELECT string_agg(id::text, ',') FROM abandoned)
                    """).single()
                let (workoutVersionID, abandonedText) = try inserted.decode((UUID?, String?).self)
                let abandoned = (abandonedText ?? "").split(separator: ",").compactMap { UUID(uuidString: String($0)) }
                if !abandoned.isEmpty {
                    logger.info("abandoned unfinished sessions", metadata: ["user": "\(userID)", "sessions": "\(abandoned)"])
                }
                return StartedSession(
                    id: sessionID, workoutName: workout.name, programVersionID: versionID, workoutVersionID: workoutVersionID,
                    abandoned: abandoned)
            }
        }
    }

    /// The program as it is now, and the version that holds it (nil when legacy is ahead of
    /// every version, or there is none). The version stands for the program when it is
    /// current (`ProgramHead.versionIsCurrent`); legacy JSON that holds the same program is
    /// cheaper to read, but only phases 1-4 read it (after `legacy retire` it is gone).
    static func currentProgram(
        _ programID: UUID, head: ProgramHead, on connection: PGConnection
    ) async throws -> (program: Program, versionID: UUID?) {
        if let latest = head.latest, head.versionIsCurrent, !head.legacyHoldsLatest || head.legacyReadOnly {
            return (try await VersionContent.load(versionID: latest.id, of: programID, on: connection), latest.id)
        }
        guard let json = try await ProgramHead.legacyJSON(of: programID, on: connection) else {
            throw RepositoryError.programNotFound(programID)
        }
        do throws(LegacyDecodingError) {
            return (try Program(legacyJSON: json.bytes), head.legacyHoldsLatest ? head.latest?.id : nil)
        } catch {
            throw RepositoryError.unreadableLegacy(programID: programID, error)
        }
    }

    /// Logs one set of an IN_PROGRESS session. The exercise must be part of the session's
    /// workout: in the version the session ran against, else in the program as it is now.
    @discardableResult
    public func logSet(
        sessionID: UUID, exerciseID: String, setIndex: Int, reps: Int, weightKg: JSONNumber? = nil, setID: UUID = UUID()
    ) async throws(RepositoryError) -> UUID {
        guard setIndex >= 0 else { throw .invalidSet("setIndex must be 0 or more, got \(setIndex)") }
        guard (0...1000).contains(reps) else { throw .invalidSet("reps must be between 0 and 1000, got \(reps)") }
        if let weightKg, !weightKg.isWithin(0...1000) {
            throw .invalidSet("weightKg must be between 0 and 1000, got \(weightKg.canonical)")
        }
        return try await pool.repositoryCall { connection in
            let rows = try await connection.query("""
                SELECT s.user_id, s.status, s.workout_id, s.workout_version_id, s.program_id,
                       (SELECT e.id FROM program_version_exercises e
                         WHERE e.program_id = s.program_id AND e.program_version_id = s.program_version_id
                           AND e.workout_version_id = s.workout_version_id AND e.exercise_id = \(exerciseID))
                  FROM workout_sessions s
                 WHERE s.id = \(sessionID)
                """)
            guard let row = rows.first else { throw RepositoryError.sessionNotFound(sessionID) }
            let (userID, status, workoutID, workoutVersionID, programID, exerciseVersionID) =
                try row.decode((UUID, String, String, UUID?, UUID, UUID?).self)
            guard status == "IN_PROGRESS" else { throw RepositoryError.sessionNotInProgress(sessionID, status: status) }
            if workoutVersionID != nil {
                guard exerciseVersionID != nil else { throw RepositoryError.exerciseNotInWorkout(sessionID: sessionID, exerciseID: exerciseID) }
            } else {
                // A session started before its program had a version: judged by the program as it is now.
                let head = try await ProgramHead.load(programID, on: connection)
                let program = try await head.asyncMap { try await Self.currentProgram(programID, head: $0, on: connection).program }
                let workout = program?.workouts.first { $0.id == workoutID }
                guard workout?.exercises.contains(where: { $0.id == exerciseID }) == true else {
                    throw RepositoryError.exerciseNotInWorkout(sessionID: sessionID, exerciseID: exerciseID)
                }
            }
            try await connection.query("""
                INSERT INTO logged_sets (id, session_id, user_id, exercise_id, set_index, reps, weight_kg, exercise_version_id, program_id)
                VALUES (\(setID), \(sessionID), \(userID), \(exerciseID), \(setIndex), \(reps),
                        \(weightKg?.canonical)::numeric, \(exerciseVersionID), \(programID))
                """)
            return setID
        }
    }

    /// Marks an IN_PROGRESS session COMPLETED.
    public func complete(sessionID: UUID) async throws(RepositoryError) {
        try await pool.repositoryCall { connection in
            let rows = try await connection.query("""
                WITH done AS (
                  UPDATE workout_sessions SET status = 'COMPLETED', completed_at = now()
                   WHERE id = \(sessionID) AND status = 'IN_PROGRESS'
                  RETURNING id
                )
                SELECT (SELECT count(*) FROM done), (SELECT status FROM workout_sessions WHERE id = \(sessionID))
                """).single()
            let (completed, status) = try rows.decode((Int, String?).self)
            guard completed == 1 else {
                guard let status else { throw RepositoryError.sessionNotFound(sessionID) }
                throw RepositoryError.sessionNotInProgress(sessionID, status: status)
            }
        }
    }

    /// The user's sessions, newest first, each with the workout name it had when it ran.
    public func history(userID: UUID, limit: Int = 50) async throws(RepositoryError) -> [SessionSummary] {
        try await pool.repositoryCall { connection in
            try Self.summaries(try await connection.query(HotQueries.history(of: userID, limit: limit)))
        }
    }

    private static func summaries(_ rows: PGResult) throws -> [SessionSummary] {
        try rows.map { row in
            let (id, programID, workoutID, name, status, startedAt, completedAt, sets) =
                try row.decode((UUID, UUID, String, String?, String, Date, Date?, Int).self)
            return SessionSummary(
                id: id, programID: programID, workoutID: workoutID, workoutName: name, status: status,
                startedAt: startedAt, completedAt: completedAt, setCount: sets)
        }
    }

    /// A program's sessions, newest first, each with the workout name it had when it ran.
    public func sessions(ofProgram programID: UUID, limit: Int = 50) async throws(RepositoryError) -> [SessionSummary] {
        try await pool.repositoryCall { connection in
            try Self.summaries(try await connection.query(HotQueries.sessions(of: programID, limit: limit)))
        }
    }

    /// The sets of the most recent session in which the user logged `exerciseID`. Exercise
    /// ids survive edits (see `Program.reconciled(with:)`), so this spans any number of
    /// program versions.
    public func lastPerformance(userID: UUID, exerciseID: String) async throws(RepositoryError) -> Performance? {
        try await pool.repositoryCall { connection in
            let rows = try await connection.query(HotQueries.lastPerformance(of: userID, exerciseID: exerciseID))
            var performance: Performance?
            for row in rows {
                let (sessionID, name, startedAt, setIndex, reps, weight, loggedAt) =
                    try row.decode((UUID, String?, Date, Int32, Int32, String?, Date).self)
                if performance == nil { performance = Performance(sessionID: sessionID, workoutName: name, startedAt: startedAt, sets: []) }
                performance?.sets.append(LoggedSet(
                    setIndex: Int(setIndex), reps: Int(reps), weightKg: weight.flatMap(JSONNumber.init), loggedAt: loggedAt))
            }
            return performance
        }
    }
}
