import Foundation
import PostgresDriver

/// One batch of `backfill sessions`, as one statement: the next page of sessions by id,
/// each linked to version rows, its sets to exercise rows, what cannot be linked reported.
///
/// A session links to the version holding its workout id that was current when it started
/// (the newest such version created before `started_at`), else the earliest version holding
/// it. Sessions of id-less legacy programs recorded the workout's position ("0", "1", ...);
/// such a session links to the workout at that position of the earliest version, but only
/// while that workout still carries exactly the id the fixed rule generated for it
/// (migration 00014), so a position is never trusted for a program that had its own ids.
/// Sets link the same way by exercise id or position. Only the new columns are written,
/// and only where they are NULL: legacy columns and existing links are never changed.
/// Sessions another transaction holds are skipped (`SKIP LOCKED`) and deferred: the run
/// comes back for them, and never waits for the app while it holds this batch's rows.
struct SessionBackfillBatch {
    var runID: UUID
    var dryRun: Bool
    var userID: UUID?

    func run(after cursor: UUID?, pageSize: Int, on connection: PGConnection) async throws -> BackfillBatchOutcome {
        try await run(after: cursor, pageSize: pageSize, listed: nil, on: connection)
    }

    /// Sessions a batch deferred because another transaction held them, whatever their keys.
    func run(listed ids: [UUID], on connection: PGConnection) async throws -> BackfillBatchOutcome {
        try await run(after: nil, pageSize: 0, listed: ids, on: connection)
    }

    private func run(after cursor: UUID?, pageSize: Int, listed: [UUID]?, on connection: PGConnection) async throws -> BackfillBatchOutcome {
        let write = !dryRun
        let row = try await connection.query("""
            WITH page AS (
              (SELECT s.id, s.program_id, s.workout_id, s.started_at, s.program_version_id, s.workout_version_id,
                      s.workout_name_snapshot
                 FROM workout_sessions s
                WHERE \(listed)::uuid[] IS NULL
                  AND (\(cursor)::uuid IS NULL OR s.id > \(cursor)) AND (\(userID)::uuid IS NULL OR s.user_id = \(userID))
                ORDER BY s.id
                LIMIT \(pageSize))
              UNION ALL
              (SELECT s.id, s.program_id, s.workout_id, s.started_at, s.program_version_id, s.workout_version_id,
                      s.workout_name_snapshot
                 FROM workout_sessions s
                WHERE s.id = ANY(\(listed)::uuid[])
                ORDER BY s.id)
            ), locked AS (
              -- The rows this batch may change: those no other transaction holds (the rest
              -- are deferred, never waited for). A dry run locks nothing.
              SELECT s.id FROM workout_sessions s
               WHERE s.id IN (SELECT id FROM page) AND \(write)
               ORDER BY s.id
                 FOR UPDATE SKIP LOCKED
            ), judged AS (
              SELECT page.id, page.program_id, page.workout_id,
                     page.program_version_id IS NOT NULL AND page.workout_version_id IS NOT NULL
                       AND page.workout_name_snapshot IS NOT NULL AS already,
                     m.version_id, m.workout_row_id, m.workout_name,
                     EXISTS (SELECT 1 FROM program_versions v WHERE v.program_id = page.program_id) AS has_version
                FROM page
                LEFT JOIN LATERAL (
                  (SELECT w.program_version_id AS version_id, w.id AS workout_row_id, w.name AS workout_name
                     FROM program_version_workouts w WHERE w.program_id = page.program_id AND w.id = page.workout_version_id)
                  UNION ALL
                  (SELECT v.id, w.id, w.name
                     FROM program_versions v
                     JOIN program_version_workouts w ON w.program_id = v.program_id AND w.program_version_id = v.id AND w.workout_id = page.workout_id
                    WHERE v.program_id = page.program_id AND (page.program_version_id IS NULL OR v.id = page.program_version_id)
                    ORDER BY v.created_at <= page.started_at DESC,
                             CASE WHEN v.created_at <= page.started_at THEN -v.version ELSE v.version END
                    LIMIT 1)
                  UNION ALL
                  (SELECT v.id, w.id, w.name
                     FROM program_versions v
                     JOIN program_version_workouts w ON w.program_id = v.program_id AND w.program_version_id = v.id
                    WHERE v.program_id = page.program_id AND (page.program_version_id IS NULL OR v.id = page.program_version_id)
                      AND w.position = CASE WHEN page.workout_id ~ '^[0-9]{1,6}$' THEN page.workout_id::int END
                      AND w.workout_id = program_versioning_generated_workout_id(w.position, w.name)
                    ORDER BY v.version
                    LIMIT 1)
                  LIMIT 1
                ) m ON true
               WHERE NOT \(write) OR page.id IN (SELECT id FROM locked)
            ), set_match AS (
              SELECT l.id AS set_id, j.id AS session_id, j.program_id, l.exercise_id, j.workout_row_id, x.id AS exercise_row_id
                FROM judged j
                JOIN logged_sets l ON l.session_id = j.id AND l.exercise_version_id IS NULL
                LEFT JOIN LATERAL (
                  (SELECT e.id FROM program_version_exercises e
                    WHERE e.program_id = j.program_id AND e.program_version_id = j.version_id
                      AND e.workout_version_id = j.workout_row_id AND e.exercise_id = l.exercise_id)
                  UNION ALL
                  (SELECT e.id FROM program_version_exercises e
                     JOIN program_version_workouts w ON w.program_id = e.program_id AND w.id = e.workout_version_id
                    WHERE e.program_id = j.program_id AND e.program_version_id = j.version_id AND e.workout_version_id = j.workout_row_id
                      AND e.position = CASE WHEN l.exercise_id ~ '^[0-9]{1,6}$' THEN l.exercise_id::int END
                      AND e.exercise_id = program_versioning_generated_exercise_id(w.workout_id, e.position, e.name))
                  LIMIT 1
                ) x ON true
               WHERE j.workout_row_id IS NOT NULL
            ), linked AS (
              UPDATE workout_sessions s
                 SET program_version_id = coalesce(s.program_version_id, j.version_id),
                     workout_version_id = coalesce(s.workout_version_id, j.workout_row_id),
                     workout_name_snapshot = coalesce(s.workout_name_snapshot, j.workout_name)
                FROM judged j
               WHERE s.id = j.id AND NOT j.already AND j.workout_row_id IS NOT NULL AND \(write)
              RETURNING 1
            ), sets_linked AS (
              UPDATE logged_sets l SET exercise_version_id = m.exercise_row_id, program_id = m.program_id
                FROM set_match m
               WHERE l.id = m.set_id AND m.exercise_row_id IS NOT NULL AND l.exercise_version_id IS NULL AND \(write)
              RETURNING 1
            ), reports AS (
              SELECT j.program_id, j.id AS session_id, NULL::uuid AS logged_set_id,
                     CASE WHEN j.has_version THEN 'ORPHAN_SESSION_WORKOUT' ELSE 'PROGRAM_HAS_NO_VERSION' END AS reason,
                     'workout_sessions.workout_id' AS path,
                     CASE WHEN j.has_version
                          THEN format('workout %s is in no version of program %s; the session keeps its legacy data',
                                      to_json(j.workout_id), j.program_id)
                          ELSE format('program %s has no version yet: run backfill programs first (or fix what it reported '
                                      'for this program), then run this again', j.program_id)
                     END AS detail
                FROM judged j WHERE NOT j.already AND j.workout_row_id IS NULL
              UNION ALL
              SELECT m.program_id, m.session_id, m.set_id, 'SET_EXERCISE_NOT_IN_WORKOUT', 'logged_sets.exercise_id',
                     format('exercise %s is not in the workout the session ran (workout row %s); the set keeps its legacy data',
                            to_json(m.exercise_id), m.workout_row_id)
                FROM set_match m WHERE m.exercise_row_id IS NULL
            ), stored AS (
              INSERT INTO backfill_reports (run_id, program_id, session_id, logged_set_id, reason, path, detail)
              SELECT \(runID), program_id, session_id, logged_set_id, reason, path, detail FROM reports WHERE \(write)
              RETURNING 1
            )
            SELECT (SELECT count(*) FROM page), (SELECT id FROM page ORDER BY id DESC LIMIT 1),
                   (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM page
                     WHERE \(write) AND id NOT IN (SELECT id FROM locked)),
                   (SELECT count(*) FROM judged WHERE already),
                   (SELECT count(*) FROM judged WHERE NOT already AND workout_row_id IS NOT NULL),
                   (SELECT count(*) FROM judged WHERE NOT already AND workout_row_id IS NULL),
                   (SELECT count(*) FROM set_match WHERE exercise_row_id IS NOT NULL),
                   (SELECT count(*) FROM set_match WHERE exercise_row_id IS NULL),
                   (SELECT count(*) FROM linked), (SELECT count(*) FROM sets_linked), (SELECT count(*) FROM stored),
                   (SELECT coalesce(json_agg(r), '[]') FROM (SELECT * FROM reports LIMIT 1000) r)::text
            """).single()
        let (scanned, lastKey, deferred, already, linked, reported, setsLinked, setsReported, wroteSessions, wroteSets, storedReports, reportsJSON) =
            try row.decode((Int, UUID?, [UUID], Int, Int, Int, Int, Int, Int, Int, Int, String).self)
        var outcome = BackfillBatchOutcome()
        outcome.scanned = scanned
        outcome.lastKey = listed == nil ? lastKey : nil
        outcome.deferred = deferred
        outcome.counts.seen = scanned - deferred.count
        (outcome.counts.alreadyLinked, outcome.counts.linked, outcome.counts.reported) = (already, linked, reported)
        (outcome.counts.setsLinked, outcome.counts.setsReported) = (setsLinked, setsReported)
        // What was written must be what was planned, or the batch rolls back.
        if write, wroteSessions != linked || wroteSets != setsLinked || storedReports != reported + setsReported {
            throw BackfillError.countsDoNotAddUp(runID: runID, outcome.counts)
        }
        outcome.reports = try JSONDecoder().decode([StoredReport].self, from: Data(reportsJSON.utf8)).map(\.report)
        return outcome
    }

    private struct StoredReport: Decodable {
        var program_id: UUID?
        var session_id: UUID?
        var logged_set_id: UUID?
        var reason: String
        var path: String?
        var detail: String

        var report: BackfillReport {
            BackfillReport(programID: program_id, sessionID: session_id, loggedSetID: logged_set_id, reason: reason, path: path, detail: detail)
        }
    }
}
