-- The set-based limit of `backfill programs` (see SetBasedBackfill.swift): every program
-- without a version gets version 1 and its rows, written by PostgreSQL alone in one statement.
-- Also run by scripts/guarantee-costs with one guarantee's check switched off at a time.
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
       (SELECT count(*) FROM schedule);
