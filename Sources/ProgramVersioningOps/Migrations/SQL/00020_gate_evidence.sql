-- Gates that rows cannot fake (issue 16). The rules "READS on needs a clean check since
-- WRITES went on" and "LEGACY_READONLY on needs one since READS reached 100 %" trusted any
-- CLEAN row in check_runs, and the nightly role may insert rows there. Now:
--
--   * check_runs.recorded_by is the login that inserted the row, set by the database
--     (a trigger overwrites whatever the client sent); run history is append-only.
--   * A run counts for a gate only if its recorder may flip flags itself (UPDATE on
--     runtime_flags): the operator (or the owner), never the nightly role or the app. The
--     nightly job's runs stay what they were, reports.
--   * The flag store also checks what it can itself, cheaply and without trusting any row:
--     no program's legacy JSON changed after its latest version (the version's legacy_xmin,
--     or a write-back's, against the row's xmin), and every program without a version was
--     reported by a backfill (backfill_reports, which only the operator writes).

-- +goose Up
SET LOCAL lock_timeout = '5s';
ALTER TABLE check_runs ADD COLUMN recorded_by text;

-- +goose StatementBegin
CREATE FUNCTION check_runs_record_login() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.recorded_by := session_user;
  RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER check_runs_recorded_by BEFORE INSERT ON check_runs FOR EACH ROW EXECUTE FUNCTION check_runs_record_login();
CREATE TRIGGER check_runs_append_only BEFORE UPDATE OR DELETE ON check_runs FOR EACH ROW EXECUTE FUNCTION program_versioning_append_only();
CREATE TRIGGER check_runs_no_truncate BEFORE TRUNCATE ON check_runs FOR EACH STATEMENT EXECUTE FUNCTION program_versioning_append_only();

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

-- +goose Down
SET LOCAL lock_timeout = '5s';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_missing_evidence(since timestamptz, moment text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN EXISTS (SELECT 1 FROM check_runs
                            WHERE status = 'CLEAN' AND user_filter IS NULL AND finished_at IS NOT NULL
                              AND started_at > coalesce(since, '-infinity'))
              THEN NULL ELSE 'no clean consistency run since ' || moment END
$$;
-- +goose StatementEnd
DROP TRIGGER check_runs_no_truncate ON check_runs;
DROP TRIGGER check_runs_append_only ON check_runs;
DROP TRIGGER check_runs_recorded_by ON check_runs;
DROP FUNCTION check_runs_record_login();
-- Who recorded each run goes with the column; the runs stay.
ALTER TABLE check_runs DROP COLUMN recorded_by;
