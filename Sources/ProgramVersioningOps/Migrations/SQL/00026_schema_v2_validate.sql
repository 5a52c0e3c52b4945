-- Schema v2, step 3 of 3: sets linked before logged_sets had program_id get their
-- session's, then the links added NOT VALID by step 2 are validated. VALIDATE takes SHARE
-- UPDATE EXCLUSIVE: the app keeps reading and writing meanwhile.

-- +goose Up
SET LOCAL lock_timeout = '5s';
UPDATE logged_sets l SET program_id = s.program_id
  FROM workout_sessions s
 WHERE s.id = l.session_id AND l.exercise_version_id IS NOT NULL AND l.program_id IS NULL;
ALTER TABLE logged_sets VALIDATE CONSTRAINT logged_sets_linked_program_check;
ALTER TABLE workout_sessions VALIDATE CONSTRAINT workout_sessions_program_version_fkey;
ALTER TABLE workout_sessions VALIDATE CONSTRAINT workout_sessions_workout_version_fkey;
ALTER TABLE logged_sets VALIDATE CONSTRAINT logged_sets_exercise_version_fkey;

-- +goose Down
-- Validation cannot be undone in place, and nothing needs undoing: step 2's Down drops
-- these constraints and the column.
SELECT 1;
