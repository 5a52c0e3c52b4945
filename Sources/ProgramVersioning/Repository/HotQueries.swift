import Foundation
import PostgresDriver

/// The queries an app runs on every screen, in one place so a test can EXPLAIN exactly what
/// the library sends (each must be served by an index at scale, see migration 00008).
enum HotQueries {
    /// A program's owner and revision with its newest version, and which of the two holds
    /// the program now (the versioned read's first and, cached, only query; see `ProgramHead`).
    static func currentVersion(of programID: UUID) -> PGQuery {
        ProgramHead.query(programID)
    }

    /// A user's sessions, newest first.
    static func history(of userID: UUID, limit: Int) -> PGQuery {
        sessionSummaries(where: "s.user_id = $1", userID, limit: limit)
    }

    /// The sets of the latest session in which a user logged an exercise.
    static func lastPerformance(of userID: UUID, exerciseID: String) -> PGQuery {
        """
        WITH latest AS (
          SELECT session_id FROM logged_sets
           WHERE user_id = \(userID) AND exercise_id = \(exerciseID)
           ORDER BY logged_at DESC LIMIT 1
        )
        SELECT s.id, s.workout_name_snapshot, s.started_at, l.set_index, l.reps, l.weight_kg::text, l.logged_at
          FROM latest
          JOIN workout_sessions s ON s.id = latest.session_id
          JOIN logged_sets l ON l.session_id = latest.session_id AND l.exercise_id = \(exerciseID)
         ORDER BY l.set_index, l.logged_at
        """
    }

    /// A program's sessions, newest first.
    static func sessions(of programID: UUID, limit: Int) -> PGQuery {
        sessionSummaries(where: "s.program_id = $1", programID, limit: limit)
    }

    /// Session summaries filtered by one fixed condition on `$1` (a constant of this file,
    /// never data; the values travel as binds).
    private static func sessionSummaries(where condition: StaticString, _ key: UUID, limit: Int) -> PGQuery {
        PGQuery(unsafeSQL: """
            SELECT s.id, s.program_id, s.workout_id, s.workout_name_snapshot, s.status, s.started_at, s.completed_at,
                   (SELECT count(*) FROM logged_sets l WHERE l.session_id = s.id)
              FROM workout_sessions s
             WHERE \(condition)
             ORDER BY s.started_at DESC
             LIMIT $2
            """, binds: [key.postgresBind, limit.postgresBind])
    }
}
