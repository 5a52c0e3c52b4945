-- A session remembers the name its workout had when it ran, so history survives renames
-- and deletions. Filled from the legacy JSON for sessions that exist already; messy JSON
-- (workouts not an array, elements not objects) simply leaves the snapshot NULL for the
-- sessions backfill to report.

-- +goose Up
SET LOCAL lock_timeout = '5s';
ALTER TABLE workout_sessions ADD COLUMN workout_name_snapshot text;

UPDATE workout_sessions AS s
   SET workout_name_snapshot = w.value ->> 'name'
  FROM programs AS p,
       LATERAL jsonb_array_elements(
         CASE WHEN jsonb_typeof(p.program_json -> 'workouts') = 'array'
              THEN p.program_json -> 'workouts' ELSE '[]'::jsonb END) AS w
 WHERE p.id = s.program_id
   AND jsonb_typeof(w.value) = 'object'
   AND w.value ->> 'id' = s.workout_id
   AND s.workout_name_snapshot IS NULL;

-- +goose Down
SET LOCAL lock_timeout = '5s';
ALTER TABLE workout_sessions DROP COLUMN workout_name_snapshot;
