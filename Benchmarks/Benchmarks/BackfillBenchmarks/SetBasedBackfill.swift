import PostgresDriver

/// The limit for `backfill programs` on schema v2 (issue 20): the same work done by
/// PostgreSQL alone, set-based, in one transaction. Every program without a version gets
/// version 1 with its workouts, exercises and schedule entries, the same rows and columns
/// the backfill writes (ids, `extra` holding the app's keys, checksums, `legacy_xmin`), read from `program_json` with jsonb functions and written by one
/// statement, so every check the schema has fires for it as for the backfill.
///
/// Its ids come from gen_random_uuid(), the cheapest id PostgreSQL makes (half the time of
/// a UUIDv7 made in SQL); with every key led by program_id, the order of ids within a
/// program changes nothing measurable, so the limit is not made slower by them.
///
/// What it leaves out, and why nothing cheaper would do: the backfill's canonical checksum
/// (SQL has no canonical form of a program; this hashes jsonb's own text with SHA-256, the
/// same work per byte), validation of messy data (the seeded programs are clean) and the
/// backfill's batching (one transaction is the cheapest way PostgreSQL takes these rows).
enum SetBasedBackfill {
    static let statement: PGQuery = """
        WITH src AS MATERIALIZED (
          SELECT p.id, p.xmin::text AS revision, p.program_json AS j, gen_random_uuid() AS version_id
            FROM programs p
           WHERE NOT EXISTS (SELECT 1 FROM program_versions v WHERE v.program_id = p.id)
        ), versions AS (
          INSERT INTO program_versions (id, program_id, version, name, extra, source_checksum, content_checksum, created_by, legacy_xmin)
          SELECT version_id, id, 1, j->>'name', j - 'name' - 'workouts' - 'schedule',
                 encode(sha256(convert_to(j::text, 'UTF8')), 'hex'), encode(sha256(convert_to(j::text, 'UTF8')), 'hex'), 'backfill', revision
            FROM src
          RETURNING 1
        ), w AS MATERIALIZED (
          SELECT s.id AS program_id, s.version_id, gen_random_uuid() AS row_id, e.value AS w, e.ordinality - 1 AS position
            FROM src s, jsonb_array_elements(s.j->'workouts') WITH ORDINALITY AS e
        ), workouts AS (
          INSERT INTO program_version_workouts (id, program_id, program_version_id, workout_id, name, position, extra)
          SELECT row_id, program_id, version_id, w->>'id', w->>'name', position, w - 'id' - 'name' - 'exercises'
            FROM w
          RETURNING 1
        ), exercises AS (
          INSERT INTO program_version_exercises
            (id, program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, weight_kg, position, extra)
          SELECT gen_random_uuid(), w.program_id, w.version_id, w.row_id, x.value->>'id', x.value->>'name',
                 (x.value->>'sets')::int, (x.value->>'reps')::int, (x.value->>'restSeconds')::int, (x.value->>'weightKg')::numeric,
                 x.ordinality - 1, x.value - 'id' - 'name' - 'sets' - 'reps' - 'restSeconds' - 'weightKg'
            FROM w, jsonb_array_elements(w.w->'exercises') WITH ORDINALITY AS x
          RETURNING 1
        ), schedule AS (
          INSERT INTO program_version_schedule (program_id, program_version_id, position, day_index, workout_id, extra)
          SELECT s.id, s.version_id, e.ordinality - 1, (e.value->>'dayIndex')::int,
                 s.j->'workouts'->((e.value->>'workoutIndex')::int)->>'id', e.value - 'dayIndex' - 'workoutIndex'
            FROM src s, jsonb_array_elements(s.j->'schedule') WITH ORDINALITY AS e
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM versions), (SELECT count(*) FROM workouts), (SELECT count(*) FROM exercises),
               (SELECT count(*) FROM schedule)
        """

    /// Runs it in one transaction; returns the number of versions written.
    static func run(on connection: PGConnection) async throws -> Int {
        try await connection.transaction { connection in
            try await connection.query(statement).single().decode(Int.self, at: 0)
        }
    }
}
