-- Backfills and checks that never hurt the app (issue 17).
--
--   * backfill_runs: a heartbeat and the session running the run (a RUNNING run whose
--     process is gone shows as STALE), why it waits now ("throttled: replica lag 2.3 s"),
--     its batch size now, and the keys it skipped because another transaction held them
--     (it comes back for them; a resumed run too). New columns have no defaults, so a
--     Down counts only what runs wrote into them as lost.
--   * background_controls: one row per kind of background work (backfill, check) that every
--     running process reads between batches: pause, resume, a batch size set live. A
--     pause stays until resumed, so a backfill started by cron while paused waits too.
--   * check_progress: where an unfinished check is (a cursor per walk) and what it found so
--     far, so a check killed at 90 % resumes there. Scratch, not evidence: the finished
--     run is still one append-only row of check_runs. Each row's recorder is set by the
--     database, and a check resumes only its own login's progress.
--   * check_runs.data_as_of: a check read from a hot standby saw the data as of its last
--     replayed transaction, not as of its start; the gates count from the earlier of the two.
--   * program_versioning_refresh_statistics(): ANALYZE of the tables a backfill rewrote,
--     callable by the roles that run backfills and checks (ANALYZE needs the owner in
--     PostgreSQL 15): the first check after a backfill otherwise plans on statistics that
--     predate it (docs/decisions.md, "The slow first check").

-- +goose Up
SET LOCAL lock_timeout = '5s';

ALTER TABLE backfill_runs
  ADD COLUMN heartbeat_at timestamptz,
  ADD COLUMN backend_pid integer,
  ADD COLUMN client text,
  ADD COLUMN throttled text,
  ADD COLUMN throttled_since timestamptz,
  ADD COLUMN throttled_seconds double precision,
  ADD COLUMN batch_size integer,
  ADD COLUMN total bigint,
  ADD COLUMN deferred uuid[];

CREATE TABLE background_controls (
  kind text PRIMARY KEY CHECK (kind IN ('backfill', 'check')),
  paused boolean NOT NULL DEFAULT false,
  -- Records per batch (pages for the check) from the next batch on; NULL: the run's own.
  batch_size integer CHECK (batch_size BETWEEN 1 AND 100000),
  reason text,
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text NOT NULL DEFAULT session_user);
INSERT INTO background_controls (kind) VALUES ('backfill'), ('check');

CREATE TABLE check_progress (
  run_id uuid PRIMARY KEY,
  user_filter uuid,
  started_at timestamptz NOT NULL,
  data_as_of timestamptz,
  read_from text,
  flags jsonb NOT NULL,
  status text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'INTERRUPTED', 'FAILED')),
  -- {"programs-0": "<last key>", "programs-1": ..., "sessions": ...}; "done" when a walk ended.
  cursors jsonb NOT NULL DEFAULT '{}'::jsonb,
  programs_checked bigint NOT NULL DEFAULT 0,
  sessions_checked bigint NOT NULL DEFAULT 0,
  legacy_behind bigint NOT NULL DEFAULT 0,
  total bigint,
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  backend_pid integer,
  client text,
  throttled text,
  error text,
  recorded_by text NOT NULL);

CREATE TABLE check_progress_findings (
  run_id uuid NOT NULL REFERENCES check_progress (run_id) ON DELETE CASCADE,
  n bigint GENERATED ALWAYS AS IDENTITY,
  program_id uuid,
  session_id uuid,
  kind text NOT NULL,
  path text,
  legacy text,
  versioned text,
  ignore_reason text,
  PRIMARY KEY (run_id, n));

-- +goose StatementBegin
CREATE FUNCTION check_progress_record_login() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.recorded_by := session_user;
  RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER check_progress_recorded_by BEFORE INSERT OR UPDATE ON check_progress
  FOR EACH ROW EXECUTE FUNCTION check_progress_record_login();

ALTER TABLE check_runs ADD COLUMN data_as_of timestamptz, ADD COLUMN read_from text, ADD COLUMN resumed boolean;

-- The gates' evidence (migration 20), counting a run from the earlier of its start and the
-- moment its data was read as of.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_missing_evidence(since timestamptz, moment text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  changed bigint;
  unreported bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM check_runs r
                  WHERE r.status = 'CLEAN' AND r.user_filter IS NULL AND r.finished_at IS NOT NULL
                    AND least(r.started_at, coalesce(r.data_as_of, r.started_at)) > coalesce(since, '-infinity')
                    AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.recorded_by)
                    AND has_table_privilege(r.recorded_by, 'runtime_flags', 'UPDATE')) THEN
    RETURN 'no clean consistency run recorded by a role that may flip flags (an operator) since ' || moment;
  END IF;
  SELECT count(*) FILTER (WHERE v.id IS NOT NULL AND v.written_to_legacy
                                 AND v.legacy_xmin IS DISTINCT FROM p.xmin::text
                                 AND s.legacy_xmin IS DISTINCT FROM p.xmin::text),
         count(*) FILTER (WHERE v.id IS NULL
                                 AND NOT EXISTS (SELECT 1 FROM backfill_reports r WHERE r.program_id = p.id))
    INTO changed, unreported
    FROM programs p
    LEFT JOIN LATERAL (SELECT id, legacy_xmin, written_to_legacy FROM program_versions
                        WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
    LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id;
  IF changed > 0 OR unreported > 0 THEN
    RETURN format('%s programs whose legacy JSON changed after their latest version and %s without a version no backfill '
                  'reported (the flag store checks this itself); run backfill programs, then check again', changed, unreported);
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- ANALYZE of this schema's tables that changed by more than `changed_fraction` of their
-- rows since they were last analyzed (or were never analyzed), each under a short lock
-- wait (a table whose lock is not granted at once, e.g. under a VACUUM, is skipped and
-- named). ANALYZE reads a fixed-size sample, so the cost is bounded whatever the table's
-- size. Runs as the owner (SECURITY DEFINER with a fixed search_path), so the operator and
-- the nightly role may call it; the table names come from this list, never from callers.
-- Returns what it did, one line per table.
-- +goose StatementBegin
CREATE FUNCTION program_versioning_refresh_statistics(changed_fraction double precision DEFAULT 0.2)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '500ms' AS $$
DECLARE
  t record;
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN;  -- a standby has the primary's statistics
  END IF;
  FOR t IN
    SELECT s.relname::text AS name, s.n_mod_since_analyze, greatest(c.reltuples, 0)::bigint AS rows,
           s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AS never
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.schemaname = 'public'
       AND s.relname IN ('programs', 'program_versions', 'program_version_workouts', 'program_version_exercises',
                         'program_version_schedule', 'workout_sessions', 'logged_sets', 'legacy_syncs')
     ORDER BY s.relname
  LOOP
    CONTINUE WHEN NOT t.never AND t.n_mod_since_analyze <= changed_fraction * greatest(t.rows, 1000);
    BEGIN
      EXECUTE format('ANALYZE %I', t.name);
      RETURN NEXT format('%s analyzed (%s rows changed since its last analyze)', t.name, t.n_mod_since_analyze);
    EXCEPTION WHEN lock_not_available THEN
      RETURN NEXT format('%s skipped: its lock was not granted within 500 ms (a VACUUM or a migration holds it)', t.name);
    END;
  END LOOP;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION program_versioning_refresh_statistics(double precision) FROM PUBLIC;

-- +goose Down
SET LOCAL lock_timeout = '5s';
DROP FUNCTION program_versioning_refresh_statistics(double precision);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_missing_evidence(since timestamptz, moment text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  changed bigint;
  unreported bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM check_runs r
                  WHERE r.status = 'CLEAN' AND r.user_filter IS NULL AND r.finished_at IS NOT NULL
                    AND r.started_at > coalesce(since, '-infinity')
                    AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.recorded_by)
                    AND has_table_privilege(r.recorded_by, 'runtime_flags', 'UPDATE')) THEN
    RETURN 'no clean consistency run recorded by a role that may flip flags (an operator) since ' || moment;
  END IF;
  SELECT count(*) FILTER (WHERE v.id IS NOT NULL AND v.written_to_legacy
                                 AND v.legacy_xmin IS DISTINCT FROM p.xmin::text
                                 AND s.legacy_xmin IS DISTINCT FROM p.xmin::text),
         count(*) FILTER (WHERE v.id IS NULL
                                 AND NOT EXISTS (SELECT 1 FROM backfill_reports r WHERE r.program_id = p.id))
    INTO changed, unreported
    FROM programs p
    LEFT JOIN LATERAL (SELECT id, legacy_xmin, written_to_legacy FROM program_versions
                        WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
    LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id;
  IF changed > 0 OR unreported > 0 THEN
    RETURN format('%s programs whose legacy JSON changed after their latest version and %s without a version no backfill '
                  'reported (the flag store checks this itself); run backfill programs, then check again', changed, unreported);
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- Where a standby check read from goes with these columns; the runs stay.
ALTER TABLE check_runs DROP COLUMN resumed, DROP COLUMN read_from, DROP COLUMN data_as_of;
DROP TABLE check_progress_findings;
DROP TABLE check_progress;
DROP FUNCTION check_progress_record_login();
DROP TABLE background_controls;
ALTER TABLE backfill_runs
  DROP COLUMN deferred, DROP COLUMN total, DROP COLUMN batch_size, DROP COLUMN throttled_seconds, DROP COLUMN throttled_since,
  DROP COLUMN throttled, DROP COLUMN client, DROP COLUMN backend_pid, DROP COLUMN heartbeat_at;
