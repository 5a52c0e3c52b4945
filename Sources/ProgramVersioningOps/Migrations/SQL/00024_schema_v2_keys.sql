-- Schema v2, step 1 of 3: the keys of the versioned tables rebuilt around program_id
-- (docs/decisions.md "Schema v2"), built beside the old ones without blocking writers.
-- CONCURRENTLY cannot run inside a transaction; step 2 turns these indexes into the
-- tables' primary keys and drops what they replace.
--
--   program_versions          (program_id, id) primary key
--   program_version_workouts  (program_id, id) primary key;
--                             (program_id, program_version_id, workout_id) unique: a version's
--                             workouts by id, and what reads and session links look up
--   program_version_exercises (program_id, id) primary key;
--                             (program_id, program_version_id, workout_version_id, exercise_id)
--                             unique: a workout's exercises by id, read by version
--   program_version_schedule  (program_id, program_version_id, position) primary key

-- +goose NO TRANSACTION
-- +goose Up
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS program_versions_v2_pkey ON program_versions (program_id, id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS program_version_workouts_v2_pkey ON program_version_workouts (program_id, id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS program_version_workouts_v2_workout_key
  ON program_version_workouts (program_id, program_version_id, workout_id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS program_version_exercises_v2_pkey ON program_version_exercises (program_id, id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS program_version_exercises_v2_exercise_key
  ON program_version_exercises (program_id, program_version_id, workout_version_id, exercise_id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS program_version_schedule_v2_pkey
  ON program_version_schedule (program_id, program_version_id, position);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS program_version_schedule_v2_pkey;
DROP INDEX CONCURRENTLY IF EXISTS program_version_exercises_v2_exercise_key;
DROP INDEX CONCURRENTLY IF EXISTS program_version_exercises_v2_pkey;
DROP INDEX CONCURRENTLY IF EXISTS program_version_workouts_v2_workout_key;
DROP INDEX CONCURRENTLY IF EXISTS program_version_workouts_v2_pkey;
DROP INDEX CONCURRENTLY IF EXISTS program_versions_v2_pkey;
