-- Indexes for the app's hot queries (a user's history, last performance of an exercise,
-- a program's sessions, the programs of a user). CONCURRENTLY builds them without
-- blocking writes, which cannot run inside a transaction.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS workout_sessions_user_started ON workout_sessions (user_id, started_at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS workout_sessions_program ON workout_sessions (program_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS logged_sets_user_exercise_logged ON logged_sets (user_id, exercise_id, logged_at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS logged_sets_session ON logged_sets (session_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS programs_user ON programs (user_id);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS programs_user;
DROP INDEX CONCURRENTLY IF EXISTS logged_sets_session;
DROP INDEX CONCURRENTLY IF EXISTS logged_sets_user_exercise_logged;
DROP INDEX CONCURRENTLY IF EXISTS workout_sessions_program;
DROP INDEX CONCURRENTLY IF EXISTS workout_sessions_user_started;
