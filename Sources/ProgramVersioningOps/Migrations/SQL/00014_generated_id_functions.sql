-- The rule that gives id-less legacy workouts and exercises their ids (ProgramDomain's
-- GeneratedIDs, fixed forever), in SQL. `backfill sessions` uses it to link sessions the
-- old app recorded by position ("0", "1", ...): a position is trusted only when the
-- workout (exercise) there still carries exactly the id generated for it, i.e. the program
-- never had ids of its own. A test checks these against the Swift rule, unicode included.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION program_versioning_generated_workout_id(workout_position int, workout_name text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT 'w-' || left(encode(sha256(convert_to(
    'program-versioning/workout-id/v1' || chr(10) || workout_position || chr(10) || workout_name, 'UTF8')), 'hex'), 12)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION program_versioning_generated_exercise_id(workout_id text, exercise_position int, exercise_name text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT 'e-' || left(encode(sha256(convert_to(
    'program-versioning/exercise-id/v1' || chr(10) || workout_id || chr(10) || exercise_position || chr(10) || exercise_name,
    'UTF8')), 'hex'), 12)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION program_versioning_generated_exercise_id(text, int, text);
DROP FUNCTION program_versioning_generated_workout_id(int, text);
