import Foundation
import PostgresDriver

/// The sessions of one page of programs checked for links that point nowhere or at the wrong
/// place: a version of another program, a workout row of another version or with another
/// workout id (positions count only for workouts whose id was generated, as `backfill
/// sessions` links them), or a set linked to an exercise outside the session's workout.
///
/// Sessions are walked program by program, not by their own random ids, so the version
/// rows they point at are read roughly in the order they are stored (versions are written
/// a program at a time) instead of one random page each.
struct SessionLinkCheck: CheckPager {
    var userID: UUID?

    func run(after cursor: UUID?, pageSize: Int, on connection: PGConnection) async throws -> CheckPage {
        let rows = try await connection.query("""
            WITH programs_page AS (
              SELECT p.id FROM programs p
               WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor)) AND (\(userID)::uuid IS NULL OR p.user_id = \(userID))
               ORDER BY p.id
               LIMIT \(pageSize)
            ), page AS (
              SELECT s.id, s.program_id, s.workout_id, s.program_version_id, s.workout_version_id
                FROM workout_sessions s WHERE s.program_id IN (SELECT id FROM programs_page)
            ), links AS (
              -- Sets are judged only in sessions whose own links hold: a session pointed at the
              -- wrong workout is one finding, not one more per set.
              SELECT page.*, v.id AS version_row, w.id AS workout_row,
                     w.program_version_id AS workout_version, w.workout_id AS linked_workout, w.position AS workout_position,
                     w.name AS workout_name,
                     (page.program_version_id IS NULL OR v.id IS NOT NULL)
                     AND (page.workout_version_id IS NULL
                          OR (w.program_version_id IS NOT DISTINCT FROM page.program_version_id
                              AND (w.workout_id = page.workout_id
                                   OR (page.workout_id = w.position::text
                                       AND w.workout_id = program_versioning_generated_workout_id(w.position, w.name))))) AS sound
                FROM page
                -- Every key starts with the program: a link is read within the session's own
                -- program (the foreign keys refuse a link into another one).
                LEFT JOIN program_versions v ON v.program_id = page.program_id AND v.id = page.program_version_id
                LEFT JOIN program_version_workouts w ON w.program_id = page.program_id AND w.id = page.workout_version_id
            ), workout_exercises AS (
              -- The exercise rows of the page's workouts, read once per workout: a set's link
              -- is sound when it names one of its own session's workout.
              SELECT e.id, e.workout_version_id, e.exercise_id, e.position, e.name
                FROM program_version_exercises e
               WHERE (e.program_id, e.program_version_id, e.workout_version_id) IN
                     (SELECT program_id, program_version_id, workout_version_id FROM links WHERE sound AND workout_version_id IS NOT NULL)
            ), broken AS (
              -- The session's own links, judged from the rows `links` already joined.
              SELECT links.id AS session_id, links.program_id, 'sessions[' || links.id || '].program_version_id' AS path,
                     links.program_version_id::text AS versioned,
                     'points at no version of its program' AS problem
                FROM links
               WHERE links.program_version_id IS NOT NULL AND version_row IS NULL
              UNION ALL
              SELECT links.id, links.program_id, 'sessions[' || links.id || '].workout_version_id', links.workout_version_id::text,
                     CASE WHEN workout_row IS NULL THEN 'points at no workout row'
                          WHEN workout_version IS DISTINCT FROM links.program_version_id
                            THEN 'points at a workout of another version (' || workout_version || ')'
                          ELSE 'points at workout ' || to_json(linked_workout)::text || ', not ' || to_json(links.workout_id)::text END
                FROM links
               WHERE links.workout_version_id IS NOT NULL
                 AND (workout_row IS NULL OR workout_version IS DISTINCT FROM links.program_version_id
                      OR (linked_workout <> links.workout_id
                          AND NOT (links.workout_id = workout_position::text
                                   AND linked_workout = program_versioning_generated_workout_id(workout_position, workout_name))))
              UNION ALL
              SELECT page.id, page.program_id, 'sessions[' || page.id || '].logged_sets[' || l.id || '].exercise_version_id', l.exercise_version_id::text,
                     CASE WHEN e.id IS NOT NULL
                            THEN 'points at exercise ' || to_json(e.exercise_id)::text || ', not ' || to_json(l.exercise_id)::text
                          WHEN EXISTS (SELECT 1 FROM program_version_exercises x
                                        WHERE x.program_id = coalesce(l.program_id, page.program_id) AND x.id = l.exercise_version_id)
                            THEN 'points at an exercise outside the session''s workout'
                          ELSE 'points at no exercise row' END
                FROM links page
                JOIN logged_sets l ON l.session_id = page.id AND l.exercise_version_id IS NOT NULL AND page.sound
                LEFT JOIN workout_exercises e ON e.id = l.exercise_version_id AND e.workout_version_id = page.workout_version_id
               WHERE e.id IS NULL
                  OR (e.exercise_id <> l.exercise_id
                      AND NOT (l.exercise_id = e.position::text
                               AND e.exercise_id = program_versioning_generated_exercise_id(page.linked_workout, e.position, e.name)))
            )
            SELECT 0 AS part, NULL::uuid, NULL::uuid, NULL::text, NULL::text, NULL::text,
                   (SELECT count(*) FROM page), (SELECT count(*) FROM programs_page),
                   (SELECT id FROM programs_page ORDER BY id DESC LIMIT 1)
            UNION ALL
            SELECT 1, session_id, program_id, path, versioned, problem, NULL, NULL, NULL FROM broken
            ORDER BY 1
            """)
        var page = CheckPage()
        for (index, row) in rows.enumerated() {
            if index == 0 {
                let (scanned, keysRead, lastKey) = try (row.decode(Int.self, at: 6), row.decode(Int.self, at: 7), row.decode(UUID?.self, at: 8))
                (page.scanned, page.keysRead, page.lastKey) = (scanned, keysRead, lastKey)
                continue
            }
            let (_, sessionID, programID, path, versioned, problem) = try row.decode((Int32, UUID, UUID, String, String?, String).self)
            page.differences.append(CheckDifference(
                programID: programID, sessionID: sessionID, kind: .brokenSessionLink, path: path, legacy: problem, versioned: versioned))
        }
        return page
    }
}
