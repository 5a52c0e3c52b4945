-- The app's tables as they exist before ProgramVersioning (DESIGN.md §2).
-- IF NOT EXISTS adopts a database that already has them, without touching their data.

-- +goose Up
CREATE TABLE IF NOT EXISTS programs (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  program_json jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE IF NOT EXISTS workout_sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL,
  program_id uuid NOT NULL REFERENCES programs(id),
  workout_id text NOT NULL,
  status text NOT NULL DEFAULT 'IN_PROGRESS',
  started_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz);

-- logged_sets.session_id stays a soft reference (no FOREIGN KEY): old clients created
-- session ids on the device and uploaded sets before (or without) the session row, so
-- real data holds sets whose session never reached the server. A foreign key would
-- either reject those rows on adoption or force us to delete workout history; both are
-- worse than a reference the consistency check reports on.
CREATE TABLE IF NOT EXISTS logged_sets (
  id uuid PRIMARY KEY,
  session_id uuid NOT NULL,
  user_id uuid NOT NULL,
  exercise_id text NOT NULL,
  set_index int NOT NULL,
  reps int NOT NULL,
  weight_kg numeric,
  logged_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE IF NOT EXISTS user_program_states (
  user_id uuid NOT NULL,
  program_id uuid NOT NULL REFERENCES programs(id),
  current_day_index int,
  enrollment_status text NOT NULL DEFAULT 'ACTIVE',
  PRIMARY KEY (user_id, program_id));

COMMENT ON COLUMN logged_sets.session_id IS
  'Soft reference to workout_sessions.id (no foreign key): old clients made session ids on the device, so some sets have no session row. See docs/decisions.md.';

-- +goose Down
-- Dropping the legacy tables would delete the app's data: refuse unless they are empty.
-- +goose StatementBegin
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM programs) OR EXISTS (SELECT 1 FROM workout_sessions)
     OR EXISTS (SELECT 1 FROM logged_sets) OR EXISTS (SELECT 1 FROM user_program_states) THEN
    RAISE EXCEPTION 'refusing to drop the legacy tables: they hold the app''s data'
      USING HINT = 'migrate down to version 1, not 0, to keep the legacy tables; or empty them first if this is a scratch database';
  END IF;
END
$$;
-- +goose StatementEnd
DROP TABLE IF EXISTS user_program_states;
DROP TABLE IF EXISTS logged_sets;
DROP TABLE IF EXISTS workout_sessions;
DROP TABLE IF EXISTS programs;
