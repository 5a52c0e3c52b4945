-- VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: the app keeps reading and writing.

-- +goose Up
ALTER TABLE workout_sessions VALIDATE CONSTRAINT workout_sessions_program_version_fkey;
ALTER TABLE workout_sessions VALIDATE CONSTRAINT workout_sessions_workout_version_fkey;
ALTER TABLE logged_sets VALIDATE CONSTRAINT logged_sets_exercise_version_fkey;

-- +goose Down
-- Validation cannot be undone in place; drop and re-add the constraints NOT VALID.
SET LOCAL lock_timeout = '5s';
ALTER TABLE logged_sets DROP CONSTRAINT logged_sets_exercise_version_fkey;
ALTER TABLE workout_sessions DROP CONSTRAINT workout_sessions_workout_version_fkey;
ALTER TABLE workout_sessions DROP CONSTRAINT workout_sessions_program_version_fkey;
ALTER TABLE workout_sessions
  ADD CONSTRAINT workout_sessions_program_version_fkey
    FOREIGN KEY (program_version_id) REFERENCES program_versions (id) NOT VALID,
  ADD CONSTRAINT workout_sessions_workout_version_fkey
    FOREIGN KEY (workout_version_id) REFERENCES program_version_workouts (id) NOT VALID;
ALTER TABLE logged_sets
  ADD CONSTRAINT logged_sets_exercise_version_fkey
    FOREIGN KEY (exercise_version_id) REFERENCES program_version_exercises (id) NOT VALID;
