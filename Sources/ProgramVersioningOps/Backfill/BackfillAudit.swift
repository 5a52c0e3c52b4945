import Foundation
import PostgresDriver

/// The proof around a run: what the tables held before and after, and whether every link
/// from a session or set to version rows is valid (right program, right version, right
/// workout). The app may add rows during a run, never remove them, so "preserved" means
/// "no fewer than before".
public struct BackfillAudit: Sendable, Equatable {
    /// Rows in scope (the run's user, or everyone).
    public struct Counts: Sendable, Equatable, Codable {
        public var programs: Int
        public var sessions: Int
        public var sets: Int
        public var versions: Int

        var json: String {
            "{\"programs\":\(programs),\"sessions\":\(sessions),\"sets\":\(sets),\"versions\":\(versions)}"
        }

        init(programs: Int, sessions: Int, sets: Int, versions: Int) {
            (self.programs, self.sessions, self.sets, self.versions) = (programs, sessions, sets, versions)
        }

        init?(json: String) {
            guard let decoded = try? JSONDecoder().decode(Counts.self, from: Data(json.utf8)) else { return nil }
            self = decoded
        }
    }

    public var before: Counts
    public var after: Counts
    /// Sessions or sets whose version links point at another program, version or workout.
    public var invalidLinks: Int

    public var programsPreserved: Bool { after.programs >= before.programs }
    public var sessionsPreserved: Bool { after.sessions >= before.sessions }
    public var setsPreserved: Bool { after.sets >= before.sets }
    public var linksValid: Bool { invalidLinks == 0 }
    public var isClean: Bool { programsPreserved && sessionsPreserved && setsPreserved && linksValid }

    static func counts(userID: UUID?, on connection: PGConnection) async throws -> Counts {
        let row = try await connection.query("""
            SELECT (SELECT count(*) FROM programs WHERE \(userID)::uuid IS NULL OR user_id = \(userID)),
                   (SELECT count(*) FROM workout_sessions WHERE \(userID)::uuid IS NULL OR user_id = \(userID)),
                   (SELECT count(*) FROM logged_sets WHERE \(userID)::uuid IS NULL OR user_id = \(userID)),
                   (SELECT count(*) FROM program_versions v
                     WHERE \(userID)::uuid IS NULL OR v.program_id IN (SELECT id FROM programs WHERE user_id = \(userID)))
            """).single()
        let (programs, sessions, sets, versions) = try row.decode((Int, Int, Int, Int).self)
        return Counts(programs: programs, sessions: sessions, sets: sets, versions: versions)
    }

    /// Links that exist but point at the wrong place (the foreign keys already guarantee
    /// they point at a row of the session's or set's own program).
    static func invalidLinks(userID: UUID?, on connection: PGConnection) async throws -> Int {
        try await connection.query("""
            SELECT (SELECT count(*) FROM workout_sessions s
                      JOIN program_version_workouts w ON w.program_id = s.program_id AND w.id = s.workout_version_id
                     WHERE w.program_version_id IS DISTINCT FROM s.program_version_id
                       AND (\(userID)::uuid IS NULL OR s.user_id = \(userID)))
                 + (SELECT count(*) FROM logged_sets l
                      JOIN program_version_exercises e ON e.program_id = l.program_id AND e.id = l.exercise_version_id
                      LEFT JOIN workout_sessions s ON s.id = l.session_id
                     WHERE e.workout_version_id IS DISTINCT FROM s.workout_version_id
                       AND (\(userID)::uuid IS NULL OR l.user_id = \(userID)))
            """).single().decode(Int.self, at: 0)
    }
}
