-- Immutable, versioned programs (DESIGN.md §3).
--
-- A version is written once and never changed: a trigger refuses UPDATE, DELETE and
-- TRUNCATE on every versioned table, and versions of a program are numbered 1, 2, 3 ...
-- without gaps (checked on insert). Workouts and exercises keep stable string ids across
-- versions; the schedule references workouts by id, never by index. Every table carries
-- program_id so backfill and the checker stream by program without joins, and the schema
-- can be distributed by program_id (Citus) later. Keys the app put in the JSON that we do
-- not model live in `extra`, so a read from these tables returns them too.

-- +goose Up
CREATE TABLE program_versions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  program_id uuid NOT NULL REFERENCES programs(id),
  version int NOT NULL CHECK (version >= 1),
  name text NOT NULL,
  extra jsonb NOT NULL DEFAULT '{}'::jsonb,
  source_checksum text NOT NULL,
  content_checksum text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT 'save',
  CONSTRAINT program_versions_program_version_key UNIQUE (program_id, version),
  CONSTRAINT program_versions_program_id_id_key UNIQUE (program_id, id));

CREATE TABLE program_version_workouts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  program_id uuid NOT NULL,
  program_version_id uuid NOT NULL,
  workout_id text NOT NULL CHECK (workout_id <> ''),
  name text NOT NULL,
  position int NOT NULL CHECK (position >= 0),
  extra jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT program_version_workouts_version_fkey
    FOREIGN KEY (program_id, program_version_id) REFERENCES program_versions (program_id, id),
  CONSTRAINT program_version_workouts_workout_key UNIQUE (program_version_id, workout_id),
  CONSTRAINT program_version_workouts_position_key UNIQUE (program_version_id, position),
  CONSTRAINT program_version_workouts_program_id_id_key UNIQUE (program_id, id));

CREATE TABLE program_version_exercises (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  program_id uuid NOT NULL,
  program_version_id uuid NOT NULL,
  workout_version_id uuid NOT NULL,
  exercise_id text NOT NULL CHECK (exercise_id <> ''),
  name text NOT NULL,
  sets int NOT NULL CHECK (sets BETWEEN 1 AND 20),
  reps int NOT NULL CHECK (reps BETWEEN 1 AND 100),
  rest_seconds int NOT NULL CHECK (rest_seconds BETWEEN 0 AND 1800),
  weight_kg numeric CHECK (weight_kg BETWEEN 0 AND 1000),
  position int NOT NULL CHECK (position >= 0),
  extra jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT program_version_exercises_workout_fkey
    FOREIGN KEY (program_id, workout_version_id) REFERENCES program_version_workouts (program_id, id),
  CONSTRAINT program_version_exercises_version_fkey
    FOREIGN KEY (program_id, program_version_id) REFERENCES program_versions (program_id, id),
  CONSTRAINT program_version_exercises_exercise_key UNIQUE (workout_version_id, exercise_id),
  CONSTRAINT program_version_exercises_position_key UNIQUE (workout_version_id, position),
  CONSTRAINT program_version_exercises_program_id_id_key UNIQUE (program_id, id));

CREATE TABLE program_version_schedule (
  program_id uuid NOT NULL,
  program_version_id uuid NOT NULL,
  position int NOT NULL CHECK (position >= 0),
  day_index int NOT NULL CHECK (day_index BETWEEN 0 AND 6),
  workout_id text NOT NULL,
  extra jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (program_version_id, position),
  CONSTRAINT program_version_schedule_version_fkey
    FOREIGN KEY (program_id, program_version_id) REFERENCES program_versions (program_id, id),
  CONSTRAINT program_version_schedule_workout_fkey
    FOREIGN KEY (program_version_id, workout_id) REFERENCES program_version_workouts (program_version_id, workout_id),
  CONSTRAINT program_version_schedule_entry_key UNIQUE (program_version_id, day_index, workout_id));

CREATE INDEX program_version_workouts_by_version ON program_version_workouts (program_version_id, position);
CREATE INDEX program_version_exercises_by_version ON program_version_exercises (program_version_id, workout_version_id, position);

-- +goose StatementBegin
CREATE FUNCTION program_versions_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on %: program versions are immutable', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation',
          HINT = 'save a new version instead of changing an old one';
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION program_versions_check_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  latest int;
BEGIN
  SELECT max(version) INTO latest FROM program_versions WHERE program_id = NEW.program_id;
  IF NEW.version <> coalesce(latest, 0) + 1 THEN
    RAISE EXCEPTION 'version % of program % does not follow version %', NEW.version, NEW.program_id, coalesce(latest, 0)
      USING ERRCODE = 'unique_violation',
            HINT = 'versions are numbered without gaps; another writer may have saved first: re-read and retry';
  END IF;
  RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER program_versions_sequence BEFORE INSERT ON program_versions
  FOR EACH ROW EXECUTE FUNCTION program_versions_check_sequence();

CREATE TRIGGER program_versions_immutable BEFORE UPDATE OR DELETE ON program_versions
  FOR EACH ROW EXECUTE FUNCTION program_versions_refuse_change();
CREATE TRIGGER program_version_workouts_immutable BEFORE UPDATE OR DELETE ON program_version_workouts
  FOR EACH ROW EXECUTE FUNCTION program_versions_refuse_change();
CREATE TRIGGER program_version_exercises_immutable BEFORE UPDATE OR DELETE ON program_version_exercises
  FOR EACH ROW EXECUTE FUNCTION program_versions_refuse_change();
CREATE TRIGGER program_version_schedule_immutable BEFORE UPDATE OR DELETE ON program_version_schedule
  FOR EACH ROW EXECUTE FUNCTION program_versions_refuse_change();

CREATE TRIGGER program_versions_no_truncate BEFORE TRUNCATE ON program_versions
  FOR EACH STATEMENT EXECUTE FUNCTION program_versions_refuse_change();
CREATE TRIGGER program_version_workouts_no_truncate BEFORE TRUNCATE ON program_version_workouts
  FOR EACH STATEMENT EXECUTE FUNCTION program_versions_refuse_change();
CREATE TRIGGER program_version_exercises_no_truncate BEFORE TRUNCATE ON program_version_exercises
  FOR EACH STATEMENT EXECUTE FUNCTION program_versions_refuse_change();
CREATE TRIGGER program_version_schedule_no_truncate BEFORE TRUNCATE ON program_version_schedule
  FOR EACH STATEMENT EXECUTE FUNCTION program_versions_refuse_change();

-- +goose Down
DROP TABLE program_version_schedule;
DROP TABLE program_version_exercises;
DROP TABLE program_version_workouts;
DROP TABLE program_versions;
DROP FUNCTION program_versions_check_sequence();
DROP FUNCTION program_versions_refuse_change();
