import Foundation
import PostgresDriver

/// One page of sessions checked for links that point nowhere or at the wrong place: a
/// version of another program, a workout row of another version or with another workout id
/// (positions count only for workouts whose id was generated, as `backfill sessions`
/// links them), or a set linked to an exercise outside the session's workout.
struct SessionLinkCheck: CheckPager {
    var userID: UUID?

    func run(after cursor: UUID?, pageSize: Int, on connection: PostgresConnection) async throws -> CheckPage {
        let rows = try await connection.query("""
            WITH page AS (
              SELECT s.id, s.program_id, s.workout_id, s.program_version_id, s.workout_version_id
                FROM workout_sessions s
               WHERE (\(cursor)::uuid IS NULL OR s.id > \(cursor)) AND (\(userID)::uuid IS NULL OR s.user_id = \(userID))
               ORDER BY s.id
               LIMIT \(pageSize)
            ), links AS (
              -- Sets are judged only in sessions whose own links hold: a session pointed at the
              -- wrong workout is one finding, not one more per set.
              SELECT page.*, v.id AS version_row, v.program_id AS version_program, w.id AS workout_row,
                     w.program_version_id AS workout_version, w.workout_id AS linked_workout, w.position AS workout_position,
                     w.name AS workout_name,
                     (page.program_version_id IS NULL OR v.program_id = page.program_id)
                     AND (page.workout_version_id IS NULL
                          OR (w.program_version_id IS NOT DISTINCT FROM page.program_version_id
                              AND (w.workout_id = page.workout_id
                                   OR (page.workout_id = w.position::text
                                       AND w.workout_id = program_versioning_generated_workout_id(w.position, w.name))))) AS sound
                FROM page
                LEFT JOIN program_versions v ON v.id = page.program_version_id
                LEFT JOIN program_version_workouts w ON w.id = page.workout_version_id
            ), workout_exercises AS (
              -- The exercise rows of the page's workouts, read once per workout: a set's link
              -- is sound when it names one of its own session's workout.
              SELECT e.id, e.workout_version_id, e.exercise_id, e.position, e.name, w.workout_id
                FROM program_version_workouts w JOIN program_version_exercises e ON e.workout_version_id = w.id
               WHERE w.id IN (SELECT workout_version_id FROM links WHERE sound AND workout_version_id IS NOT NULL)
            ), broken AS (
              SELECT page.id AS session_id, page.program_id, 'sessions[' || page.id || '].program_version_id' AS path,
                     page.program_version_id::text AS versioned,
                     CASE WHEN v.id IS NULL THEN 'points at no version'
                          ELSE 'points at a version of program ' || v.program_id END AS problem
                FROM page LEFT JOIN program_versions v ON v.id = page.program_version_id
               WHERE page.program_version_id IS NOT NULL AND (v.id IS NULL OR v.program_id <> page.program_id)
              UNION ALL
              SELECT page.id, page.program_id, 'sessions[' || page.id || '].workout_version_id', page.workout_version_id::text,
                     CASE WHEN w.id IS NULL THEN 'points at no workout row'
                          WHEN w.program_version_id IS DISTINCT FROM page.program_version_id
                            THEN 'points at a workout of another version (' || w.program_version_id || ')'
                          ELSE 'points at workout ' || to_json(w.workout_id)::text || ', not ' || to_json(page.workout_id)::text END
                FROM page LEFT JOIN program_version_workouts w ON w.id = page.workout_version_id
               WHERE page.workout_version_id IS NOT NULL
                 AND (w.id IS NULL OR w.program_version_id IS DISTINCT FROM page.program_version_id
                      OR (w.workout_id <> page.workout_id
                          AND NOT (page.workout_id = w.position::text
                                   AND w.workout_id = program_versioning_generated_workout_id(w.position, w.name))))
              UNION ALL
              SELECT page.id, page.program_id, 'sessions[' || page.id || '].logged_sets[' || l.id || '].exercise_version_id', l.exercise_version_id::text,
                     CASE WHEN e.id IS NOT NULL
                            THEN 'points at exercise ' || to_json(e.exercise_id)::text || ', not ' || to_json(l.exercise_id)::text
                          WHEN EXISTS (SELECT 1 FROM program_version_exercises x WHERE x.id = l.exercise_version_id)
                            THEN 'points at an exercise outside the session''s workout'
                          ELSE 'points at no exercise row' END
                FROM links page
                JOIN logged_sets l ON l.session_id = page.id AND l.exercise_version_id IS NOT NULL AND page.sound
                LEFT JOIN workout_exercises e ON e.id = l.exercise_version_id AND e.workout_version_id = page.workout_version_id
               WHERE e.id IS NULL
                  OR (e.exercise_id <> l.exercise_id
                      AND NOT (l.exercise_id = e.position::text
                               AND e.exercise_id = program_versioning_generated_exercise_id(e.workout_id, e.position, e.name)))
            )
            SELECT 0 AS part, NULL::uuid, NULL::uuid, NULL::text, NULL::text, NULL::text,
                   (SELECT count(*) FROM page), (SELECT id FROM page ORDER BY id DESC LIMIT 1)
            UNION ALL
            SELECT 1, session_id, program_id, path, versioned, problem, NULL, NULL FROM broken
            ORDER BY 1
            """)
        var page = CheckPage()
        for (index, row) in rows.enumerated() {
            if index == 0 {
                let (scanned, lastKey) = try (row.decode(Int.self, at: 6), row.decode(UUID?.self, at: 7))
                (page.scanned, page.lastKey) = (scanned, lastKey)
                continue
            }
            let (_, sessionID, programID, path, versioned, problem) = try row.decode((Int32, UUID, UUID, String, String?, String).self)
            page.differences.append(CheckDifference(
                programID: programID, sessionID: sessionID, kind: .brokenSessionLink, path: path, legacy: problem, versioned: versioned))
        }
        return page
    }
}
