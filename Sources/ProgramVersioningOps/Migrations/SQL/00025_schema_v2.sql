-- Schema v2, step 2 of 3: every key, unique constraint and foreign key of the versioned
-- tables and of the session links includes program_id, so the schema can be distributed by
-- program_id (docs/scaling.md), and each guarantee is kept by the cheapest means that still
-- holds it (docs/decisions.md "Schema v2", with what each costs):
--
--   * a child row belongs to a version of its own program: a statement-level check per
--     table over the rows a statement inserted (one set-based join, not one foreign-key
--     query per row);
--   * workout ids unique per version, exercise ids per workout: the unique indexes the reads
--     need anyway (step 1); positions and schedule entries unique: the same statement checks;
--   * versions numbered 1, 2, 3 ... without gaps: (program_id, version) unique, and every
--     inserted version > 1 follows one that exists (one check per statement, not a
--     max(version) query per row);
--   * immutability: unchanged (row triggers refuse UPDATE and DELETE, statement triggers
--     TRUNCATE).
--
-- Dropped because they protected nothing the above does not: the single-column primary
-- keys (ids are unique as (program_id, id), which links name), the (program_id, id) unique
-- constraints that existed only as foreign-key targets, the composite foreign keys and the
-- per-row sequence trigger, and the by-version indexes the new unique indexes replace.
--
-- logged_sets gains program_id, so a set's link to its exercise row can name the program
-- too. The library writes it with every linked set; a set linked by an older library
-- version is filled and the links are validated by step 3. New row ids are time-ordered
-- (UUIDv7): the library makes them, program_versioning_uuid_v7() is the default for rows
-- written by hand.

-- +goose Up
SET LOCAL lock_timeout = '5s';

-- +goose StatementBegin
CREATE FUNCTION program_versioning_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  -- 48 bits of Unix milliseconds, then gen_random_uuid()'s random bits with version 7.
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
-- +goose StatementEnd

-- The links go first: they name the constraints replaced below.
ALTER TABLE workout_sessions DROP CONSTRAINT workout_sessions_program_version_fkey,
                             DROP CONSTRAINT workout_sessions_workout_version_fkey;
ALTER TABLE logged_sets DROP CONSTRAINT logged_sets_exercise_version_fkey;

ALTER TABLE program_version_schedule DROP CONSTRAINT program_version_schedule_version_fkey,
                                     DROP CONSTRAINT program_version_schedule_workout_fkey,
                                     DROP CONSTRAINT program_version_schedule_entry_key,
                                     DROP CONSTRAINT program_version_schedule_pkey,
                                     ADD CONSTRAINT program_version_schedule_pkey PRIMARY KEY USING INDEX program_version_schedule_v2_pkey;
ALTER TABLE program_version_exercises DROP CONSTRAINT program_version_exercises_workout_fkey,
                                      DROP CONSTRAINT program_version_exercises_version_fkey,
                                      DROP CONSTRAINT program_version_exercises_exercise_key,
                                      DROP CONSTRAINT program_version_exercises_position_key,
                                      DROP CONSTRAINT program_version_exercises_program_id_id_key,
                                      DROP CONSTRAINT program_version_exercises_pkey,
                                      ADD CONSTRAINT program_version_exercises_pkey PRIMARY KEY USING INDEX program_version_exercises_v2_pkey,
                                      ADD CONSTRAINT program_version_exercises_exercise_key UNIQUE USING INDEX program_version_exercises_v2_exercise_key;
ALTER TABLE program_version_workouts DROP CONSTRAINT program_version_workouts_version_fkey,
                                     DROP CONSTRAINT program_version_workouts_workout_key,
                                     DROP CONSTRAINT program_version_workouts_position_key,
                                     DROP CONSTRAINT program_version_workouts_program_id_id_key,
                                     DROP CONSTRAINT program_version_workouts_pkey,
                                     ADD CONSTRAINT program_version_workouts_pkey PRIMARY KEY USING INDEX program_version_workouts_v2_pkey,
                                     ADD CONSTRAINT program_version_workouts_workout_key UNIQUE USING INDEX program_version_workouts_v2_workout_key;
ALTER TABLE program_versions DROP CONSTRAINT program_versions_program_id_id_key,
                             DROP CONSTRAINT program_versions_pkey,
                             ADD CONSTRAINT program_versions_pkey PRIMARY KEY USING INDEX program_versions_v2_pkey;
DROP INDEX program_version_workouts_by_version;
DROP INDEX program_version_exercises_by_version;

ALTER TABLE program_versions ALTER COLUMN id SET DEFAULT program_versioning_uuid_v7();
ALTER TABLE program_version_workouts ALTER COLUMN id SET DEFAULT program_versioning_uuid_v7();
ALTER TABLE program_version_exercises ALTER COLUMN id SET DEFAULT program_versioning_uuid_v7();

ALTER TABLE logged_sets ADD COLUMN program_id uuid;
-- NOT VALID: checked for every row written from now on; step 3 fills older sets and validates.
ALTER TABLE logged_sets ADD CONSTRAINT logged_sets_linked_program_check
  CHECK (exercise_version_id IS NULL OR program_id IS NOT NULL) NOT VALID;
ALTER TABLE workout_sessions
  ADD CONSTRAINT workout_sessions_program_version_fkey
    FOREIGN KEY (program_id, program_version_id) REFERENCES program_versions (program_id, id) NOT VALID,
  ADD CONSTRAINT workout_sessions_workout_version_fkey
    FOREIGN KEY (program_id, workout_version_id) REFERENCES program_version_workouts (program_id, id) NOT VALID;
ALTER TABLE logged_sets
  ADD CONSTRAINT logged_sets_exercise_version_fkey
    FOREIGN KEY (program_id, exercise_version_id) REFERENCES program_version_exercises (program_id, id) NOT VALID;

-- The statement checks. Each reads only the rows its statement inserted (a transition
-- table) and, by key, the rows they name; the first offending row is named in the error.
-- Every lookup is LATERAL, one index descent per distinct parent or version: PL/pgSQL keeps
-- a trigger query's first plan for the session, and a plan made while the tables were small
-- (a hash join over a whole table) made every later batch of a backfill pay for every row
-- written before it (288 ms per 1,000-program batch at 480k workout rows, and growing).

-- +goose StatementBegin
CREATE FUNCTION program_versions_check_numbering() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT n.program_id, n.version INTO bad FROM inserted n
    LEFT JOIN LATERAL (SELECT 1 AS found FROM program_versions p
                        WHERE p.program_id = n.program_id AND p.version = n.version - 1 LIMIT 1) p ON true
   WHERE n.version > 1 AND p.found IS NULL
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'version % of program % does not follow version %', bad.version, bad.program_id, bad.version - 1
      USING ERRCODE = 'unique_violation',
            HINT = 'versions are numbered without gaps; another writer may have saved first: re-read and retry';
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION program_version_workouts_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT i.program_id, i.program_version_id, i.workout_id INTO bad FROM inserted i
    LEFT JOIN LATERAL (SELECT 1 AS found FROM program_versions v
                        WHERE v.program_id = i.program_id AND v.id = i.program_version_id LIMIT 1) v ON true
   WHERE v.found IS NULL
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'workout % names version % that program % does not have', bad.workout_id, bad.program_version_id, bad.program_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  SELECT k.program_version_id, d.position INTO bad
    FROM (SELECT DISTINCT program_id, program_version_id FROM inserted) k
    CROSS JOIN LATERAL (SELECT w.position FROM program_version_workouts w
                         WHERE w.program_id = k.program_id AND w.program_version_id = k.program_version_id
                         GROUP BY w.position HAVING count(*) > 1 LIMIT 1) d
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'version % has two workouts at position %', bad.program_version_id, bad.position
      USING ERRCODE = 'unique_violation';
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION program_version_exercises_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT i.program_id, i.program_version_id, i.workout_version_id, i.exercise_id INTO bad
    FROM (SELECT DISTINCT ON (program_id, program_version_id, workout_version_id) * FROM inserted) i
    LEFT JOIN LATERAL (SELECT 1 AS found FROM program_version_workouts w
                        WHERE w.program_id = i.program_id AND w.id = i.workout_version_id
                          AND w.program_version_id = i.program_version_id LIMIT 1) w ON true
   WHERE w.found IS NULL
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'exercise % names workout row % that version % of program % does not have',
                    bad.exercise_id, bad.workout_version_id, bad.program_version_id, bad.program_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  SELECT d.workout_version_id, d.position INTO bad
    FROM (SELECT DISTINCT program_id, program_version_id FROM inserted) k
    CROSS JOIN LATERAL (SELECT e.workout_version_id, e.position FROM program_version_exercises e
                         WHERE e.program_id = k.program_id AND e.program_version_id = k.program_version_id
                         GROUP BY e.workout_version_id, e.position HAVING count(*) > 1 LIMIT 1) d
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'workout row % has two exercises at position %', bad.workout_version_id, bad.position
      USING ERRCODE = 'unique_violation';
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION program_version_schedule_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  SELECT i.program_id, i.program_version_id, i.workout_id INTO bad
    FROM (SELECT DISTINCT program_id, program_version_id, workout_id FROM inserted) i
    LEFT JOIN LATERAL (SELECT 1 AS found FROM program_version_workouts w
                        WHERE w.program_id = i.program_id AND w.program_version_id = i.program_version_id
                          AND w.workout_id = i.workout_id LIMIT 1) w ON true
   WHERE w.found IS NULL
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'schedule entry names workout % that version % of program % does not have',
                    bad.workout_id, bad.program_version_id, bad.program_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  SELECT k.program_version_id, d.day_index, d.workout_id INTO bad
    FROM (SELECT DISTINCT program_id, program_version_id FROM inserted) k
    CROSS JOIN LATERAL (SELECT s.day_index, s.workout_id FROM program_version_schedule s
                         WHERE s.program_id = k.program_id AND s.program_version_id = k.program_version_id
                         GROUP BY s.day_index, s.workout_id HAVING count(*) > 1 LIMIT 1) d
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'version % schedules workout % twice on day %', bad.program_version_id, bad.workout_id, bad.day_index
      USING ERRCODE = 'unique_violation';
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER program_versions_sequence ON program_versions;
CREATE TRIGGER program_versions_numbering AFTER INSERT ON program_versions
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION program_versions_check_numbering();
CREATE TRIGGER program_version_workouts_belong AFTER INSERT ON program_version_workouts
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION program_version_workouts_check();
CREATE TRIGGER program_version_exercises_belong AFTER INSERT ON program_version_exercises
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION program_version_exercises_check();
CREATE TRIGGER program_version_schedule_belong AFTER INSERT ON program_version_schedule
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION program_version_schedule_check();

-- +goose Down
SET LOCAL lock_timeout = '5s';
DROP TRIGGER program_version_schedule_belong ON program_version_schedule;
DROP TRIGGER program_version_exercises_belong ON program_version_exercises;
DROP TRIGGER program_version_workouts_belong ON program_version_workouts;
DROP TRIGGER program_versions_numbering ON program_versions;
DROP FUNCTION program_version_schedule_check();
DROP FUNCTION program_version_exercises_check();
DROP FUNCTION program_version_workouts_check();
DROP FUNCTION program_versions_check_numbering();
CREATE TRIGGER program_versions_sequence BEFORE INSERT ON program_versions
  FOR EACH ROW EXECUTE FUNCTION program_versions_check_sequence();

ALTER TABLE logged_sets DROP CONSTRAINT logged_sets_exercise_version_fkey;
ALTER TABLE workout_sessions DROP CONSTRAINT workout_sessions_workout_version_fkey,
                             DROP CONSTRAINT workout_sessions_program_version_fkey;
-- A copy of each set's session's program_id: nothing is lost with it.
ALTER TABLE logged_sets DROP COLUMN program_id;

ALTER TABLE program_versions ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE program_version_workouts ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE program_version_exercises ALTER COLUMN id SET DEFAULT gen_random_uuid();

ALTER TABLE program_versions DROP CONSTRAINT program_versions_pkey,
                             ADD CONSTRAINT program_versions_pkey PRIMARY KEY (id),
                             ADD CONSTRAINT program_versions_program_id_id_key UNIQUE (program_id, id);
ALTER TABLE program_version_workouts DROP CONSTRAINT program_version_workouts_workout_key,
                                     DROP CONSTRAINT program_version_workouts_pkey,
                                     ADD CONSTRAINT program_version_workouts_pkey PRIMARY KEY (id),
                                     ADD CONSTRAINT program_version_workouts_workout_key UNIQUE (program_version_id, workout_id),
                                     ADD CONSTRAINT program_version_workouts_position_key UNIQUE (program_version_id, position),
                                     ADD CONSTRAINT program_version_workouts_program_id_id_key UNIQUE (program_id, id),
                                     ADD CONSTRAINT program_version_workouts_version_fkey
                                       FOREIGN KEY (program_id, program_version_id) REFERENCES program_versions (program_id, id);
ALTER TABLE program_version_exercises DROP CONSTRAINT program_version_exercises_exercise_key,
                                      DROP CONSTRAINT program_version_exercises_pkey,
                                      ADD CONSTRAINT program_version_exercises_pkey PRIMARY KEY (id),
                                      ADD CONSTRAINT program_version_exercises_exercise_key UNIQUE (workout_version_id, exercise_id),
                                      ADD CONSTRAINT program_version_exercises_position_key UNIQUE (workout_version_id, position),
                                      ADD CONSTRAINT program_version_exercises_program_id_id_key UNIQUE (program_id, id),
                                      ADD CONSTRAINT program_version_exercises_workout_fkey
                                        FOREIGN KEY (program_id, workout_version_id) REFERENCES program_version_workouts (program_id, id),
                                      ADD CONSTRAINT program_version_exercises_version_fkey
                                        FOREIGN KEY (program_id, program_version_id) REFERENCES program_versions (program_id, id);
ALTER TABLE program_version_schedule DROP CONSTRAINT program_version_schedule_pkey,
                                     ADD PRIMARY KEY (program_version_id, position),
                                     ADD CONSTRAINT program_version_schedule_version_fkey
                                       FOREIGN KEY (program_id, program_version_id) REFERENCES program_versions (program_id, id),
                                     ADD CONSTRAINT program_version_schedule_workout_fkey
                                       FOREIGN KEY (program_version_id, workout_id) REFERENCES program_version_workouts (program_version_id, workout_id),
                                     ADD CONSTRAINT program_version_schedule_entry_key UNIQUE (program_version_id, day_index, workout_id);
CREATE INDEX program_version_workouts_by_version ON program_version_workouts (program_version_id, position);
CREATE INDEX program_version_exercises_by_version ON program_version_exercises (program_version_id, workout_version_id, position);

ALTER TABLE workout_sessions
  ADD CONSTRAINT workout_sessions_program_version_fkey FOREIGN KEY (program_version_id) REFERENCES program_versions (id),
  ADD CONSTRAINT workout_sessions_workout_version_fkey FOREIGN KEY (workout_version_id) REFERENCES program_version_workouts (id);
ALTER TABLE logged_sets
  ADD CONSTRAINT logged_sets_exercise_version_fkey FOREIGN KEY (exercise_version_id) REFERENCES program_version_exercises (id);

-- Back to the state step 1 left: its indexes became the v2 keys dropped above.
CREATE UNIQUE INDEX program_versions_v2_pkey ON program_versions (program_id, id);
CREATE UNIQUE INDEX program_version_workouts_v2_pkey ON program_version_workouts (program_id, id);
CREATE UNIQUE INDEX program_version_workouts_v2_workout_key ON program_version_workouts (program_id, program_version_id, workout_id);
CREATE UNIQUE INDEX program_version_exercises_v2_pkey ON program_version_exercises (program_id, id);
CREATE UNIQUE INDEX program_version_exercises_v2_exercise_key
  ON program_version_exercises (program_id, program_version_id, workout_version_id, exercise_id);
CREATE UNIQUE INDEX program_version_schedule_v2_pkey ON program_version_schedule (program_id, program_version_id, position);

DROP FUNCTION program_versioning_uuid_v7();
