-- Sessions and sets point at the exact version rows they were performed against.
-- The columns are nullable (old rows are linked later by `backfill sessions`) and the
-- foreign keys are added NOT VALID, so this takes its lock only for a catalog change;
-- the next migration validates them without blocking writers.

-- +goose Up
SET LOCAL lock_timeout = '5s';
ALTER TABLE workout_sessions
  ADD COLUMN program_version_id uuid,
  ADD COLUMN workout_version_id uuid;
ALTER TABLE logged_sets ADD COLUMN exercise_version_id uuid;

ALTER TABLE workout_sessions
  ADD CONSTRAINT workout_sessions_program_version_fkey
    FOREIGN KEY (program_version_id) REFERENCES program_versions (id) NOT VALID,
  ADD CONSTRAINT workout_sessions_workout_version_fkey
    FOREIGN KEY (workout_version_id) REFERENCES program_version_workouts (id) NOT VALID;
ALTER TABLE logged_sets
  ADD CONSTRAINT logged_sets_exercise_version_fkey
    FOREIGN KEY (exercise_version_id) REFERENCES program_version_exercises (id) NOT VALID;

-- +goose Down
SET LOCAL lock_timeout = '5s';
ALTER TABLE logged_sets DROP COLUMN exercise_version_id;
ALTER TABLE workout_sessions DROP COLUMN workout_version_id, DROP COLUMN program_version_id;
