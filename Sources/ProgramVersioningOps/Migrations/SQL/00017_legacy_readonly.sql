-- Phase 5 of the rollout (DESIGN.md §1, §4): PROGRAM_VERSIONING_LEGACY_READONLY. While it is
-- on, the versioned tables are the source of truth: saves write only the next version, and
-- the database refuses any change of programs.program_json except by the library's own
-- legacy writer (saves that create a program, `backfill legacy`), which says so with the
-- transaction setting program_versioning.legacy_writer = 'on'.
--
-- What this adds:
--   * the third flag's row and its rules in the flag store's trigger (on only while WRITES is
--     on and READS is on at 100 % after a clean check; READS and WRITES locked while it is
--     on; off only when no program's legacy JSON is behind its latest version, and never
--     while legacy is retired);
--   * program_versions.written_to_legacy: false for a version saved while legacy was
--     read-only, i.e. one the legacy JSON does not hold;
--   * legacy_syncs: which version `backfill legacy` last wrote into a program's legacy JSON,
--     and the legacy row revision (xmin) that write produced. The database sets xmin, so a
--     later change of the row by anyone else shows, and a version counts as written back
--     only if this table names it;
--   * program_versioning_legacy_behind(): the programs whose latest version the legacy JSON
--     does not hold, the test the flag store, `check` and `backfill legacy` share;
--   * program_versioning_insert_program(): how the library inserts a program's legacy row,
--     replaced by `legacy retire` (the legacy JSON column moved aside) and put back by
--     `legacy restore`;
--   * legacy_retirements and legacy_backups: the records `legacy retire` keeps;
--   * the `legacy` kind of backfill run and its `written` count; check runs count the
--     programs whose legacy is behind.
--
-- Saves take the shared advisory lock 8103783762281718649 ("pvlegacy") for their
-- transaction and read the flag after it; a flip of LEGACY_READONLY takes it exclusively,
-- so a save never decides its side under one state and commits under the other.

-- +goose Up
SET LOCAL lock_timeout = '5s';

ALTER TABLE runtime_flags DROP CONSTRAINT runtime_flags_name_check;
ALTER TABLE runtime_flags ADD CONSTRAINT runtime_flags_name_check
  CHECK (name IN ('PROGRAM_VERSIONING_WRITES', 'PROGRAM_VERSIONING_READS', 'PROGRAM_VERSIONING_LEGACY_READONLY'));
INSERT INTO runtime_flags (name, enabled, percent) VALUES ('PROGRAM_VERSIONING_LEGACY_READONLY', false, 100);

-- A constant default: a catalog change, no table rewrite.
ALTER TABLE program_versions ADD COLUMN written_to_legacy boolean NOT NULL DEFAULT true;
-- Only phase-5 versions are indexed: finding the programs legacy is behind on costs what
-- phase 5 wrote, not what the table holds.
CREATE INDEX program_versions_not_in_legacy ON program_versions (program_id) WHERE NOT written_to_legacy;

-- No foreign keys: a row counts only while it names a program's latest version and the
-- row's current xmin, which nothing but a real write-back can match; two RI checks per
-- written program would protect nothing more and cost `backfill legacy` its speed.
CREATE TABLE legacy_syncs (
  program_id uuid PRIMARY KEY,
  program_version_id uuid NOT NULL,
  legacy_xmin text NOT NULL,
  run_id uuid,
  synced_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE legacy_backups (
  id uuid PRIMARY KEY,
  folder text NOT NULL,
  manifest_sha256 text NOT NULL,
  programs_digest text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT session_user);

CREATE TABLE legacy_retirements (
  id uuid PRIMARY KEY,
  retired_at timestamptz NOT NULL DEFAULT now(),
  retired_by text NOT NULL,
  window_days int NOT NULL,
  backup_id uuid NOT NULL REFERENCES legacy_backups (id),
  reason text,
  restored_at timestamptz,
  restored_by text);
-- At most one retirement in force.
CREATE UNIQUE INDEX legacy_retirements_in_force ON legacy_retirements ((true)) WHERE restored_at IS NULL;

ALTER TABLE backfill_runs DROP CONSTRAINT backfill_runs_kind_check;
ALTER TABLE backfill_runs ADD CONSTRAINT backfill_runs_kind_check CHECK (kind IN ('programs', 'sessions', 'legacy'));
ALTER TABLE backfill_runs ADD COLUMN written bigint NOT NULL DEFAULT 0;
ALTER TABLE check_runs ADD COLUMN legacy_behind bigint NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE FUNCTION program_versioning_legacy_behind() RETURNS TABLE (program_id uuid, program_version_id uuid, version int)
  LANGUAGE sql STABLE AS $$
  SELECT candidate.program_id, latest.id, latest.version
    FROM (SELECT DISTINCT v.program_id FROM program_versions v WHERE NOT v.written_to_legacy) candidate
    JOIN LATERAL (SELECT id, version, written_to_legacy FROM program_versions
                   WHERE program_id = candidate.program_id ORDER BY version DESC LIMIT 1) latest ON true
    LEFT JOIN legacy_syncs s ON s.program_id = candidate.program_id
   WHERE NOT latest.written_to_legacy AND s.program_version_id IS DISTINCT FROM latest.id
$$;
-- +goose StatementEnd

-- For a save's single statement (the repository's phase-5 fast path): takes the phase lock
-- shared, then reads the flag with a snapshot of its own (a VOLATILE function's statements
-- each take one), so a flip that committed while the statement waited is seen.
-- +goose StatementBegin
CREATE FUNCTION program_versioning_legacy_readonly_for_save() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(8103783762281718649);
  RETURN coalesce((SELECT enabled FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY'), false);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION program_versioning_insert_program(program_id uuid, user_id uuid, legacy_json jsonb)
  RETURNS TABLE (revision text, legacy_written boolean)
  LANGUAGE sql AS $$
  INSERT INTO programs (id, user_id, program_json) VALUES (program_id, user_id, legacy_json) RETURNING xmin::text, true
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION programs_refuse_legacy_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY' AND enabled) THEN
    RAISE EXCEPTION 'LEGACY_READONLY: % of programs.program_json refused: PROGRAM_VERSIONING_LEGACY_READONLY is on, the versions are the source of truth', TG_OP
      USING ERRCODE = 'PVL01',
            HINT = 'save through the ProgramVersioning library; to roll back run program-versioning backfill legacy --flag-off';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END
$$;
-- +goose StatementEnd

-- The library's writer skips the function altogether (the WHEN is evaluated without a call).
CREATE TRIGGER programs_legacy_readonly_update BEFORE UPDATE OF program_json ON programs FOR EACH ROW
  WHEN (current_setting('program_versioning.legacy_writer', true) IS DISTINCT FROM 'on'
        AND OLD.program_json IS DISTINCT FROM NEW.program_json)
  EXECUTE FUNCTION programs_refuse_legacy_change();
CREATE TRIGGER programs_legacy_readonly_insert_delete BEFORE INSERT OR DELETE ON programs FOR EACH ROW
  WHEN (current_setting('program_versioning.legacy_writer', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION programs_refuse_legacy_change();

-- What a gate that needs "a clean check since <moment>" finds missing: NULL when the
-- evidence is there, else what to say. Its own function, so a later migration can make the
-- evidence stricter without restating the rules.
-- +goose StatementBegin
CREATE FUNCTION runtime_flags_missing_evidence(since timestamptz, moment text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN EXISTS (SELECT 1 FROM check_runs
                            WHERE status = 'CLEAN' AND user_filter IS NULL AND finished_at IS NOT NULL
                              AND started_at > coalesce(since, '-infinity'))
              THEN NULL ELSE 'no clean consistency run since ' || moment END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_enforce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  writes runtime_flags%ROWTYPE;
  reads runtime_flags%ROWTYPE;
  readonly runtime_flags%ROWTYPE;
  forced boolean := coalesce(current_setting('program_versioning.force', true), '') = 'on';
  reason text := nullif(current_setting('program_versioning.reason', true), '');
  since timestamptz;
  missing text;
  behind bigint;
  needs_clean_check boolean := false;
BEGIN
  IF NEW.name <> OLD.name THEN
    RAISE EXCEPTION 'a flag cannot be renamed' USING ERRCODE = 'PVF00';
  END IF;
  -- Lock the other flags (in name order, as the CLI does) so racing flips serialize, then
  -- read them as committed now; this row counts as it will be after the update.
  PERFORM 1 FROM runtime_flags WHERE name <> NEW.name ORDER BY name FOR UPDATE;
  SELECT * INTO writes FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_WRITES';
  SELECT * INTO reads FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_READS';
  SELECT * INTO readonly FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY';
  CASE NEW.name
    WHEN 'PROGRAM_VERSIONING_WRITES' THEN writes := NEW;
    WHEN 'PROGRAM_VERSIONING_READS' THEN reads := NEW;
    ELSE readonly := NEW;
  END CASE;

  IF NEW.name = 'PROGRAM_VERSIONING_READS' THEN
    IF readonly.enabled AND (NOT NEW.enabled OR NEW.percent < 100) THEN
      RAISE EXCEPTION 'READS_LOCKED_BY_LEGACY_READONLY: PROGRAM_VERSIONING_READS must stay on at 100 %% while PROGRAM_VERSIONING_LEGACY_READONLY is on'
        USING ERRCODE = 'PVF07',
              HINT = 'roll back in order: backfill legacy --flag-off (LEGACY_READONLY off), then READS';
    END IF;
    IF NEW.enabled AND NOT writes.enabled THEN
      RAISE EXCEPTION 'READS_NEEDS_WRITES: PROGRAM_VERSIONING_READS cannot be on while PROGRAM_VERSIONING_WRITES is off'
        USING ERRCODE = 'PVF01', HINT = 'turn PROGRAM_VERSIONING_WRITES on first';
    END IF;
    IF NEW.enabled AND NOT OLD.enabled THEN
      SELECT max(changed_at) INTO since FROM runtime_flag_audit
       WHERE name = 'PROGRAM_VERSIONING_WRITES' AND new_enabled AND NOT coalesce(old_enabled, false);
      missing := runtime_flags_missing_evidence(since, 'PROGRAM_VERSIONING_WRITES was turned on');
      IF missing IS NOT NULL THEN
        IF NOT forced THEN
          RAISE EXCEPTION 'READS_NEEDS_CLEAN_CHECK: %', missing
            USING ERRCODE = 'PVF03',
                  HINT = 'run program-versioning check until it reports no differences, or flip with --force --reason';
        END IF;
        needs_clean_check := true;
      END IF;
    END IF;
  ELSIF NEW.name = 'PROGRAM_VERSIONING_WRITES' THEN
    IF NOT NEW.enabled AND readonly.enabled THEN
      RAISE EXCEPTION 'WRITES_OFF_NEEDS_LEGACY_READONLY_OFF: PROGRAM_VERSIONING_WRITES cannot be turned off while PROGRAM_VERSIONING_LEGACY_READONLY is on'
        USING ERRCODE = 'PVF08',
              HINT = 'roll back in order: backfill legacy --flag-off (LEGACY_READONLY off), READS off, then WRITES off';
    END IF;
    IF NOT NEW.enabled AND reads.enabled THEN
      RAISE EXCEPTION 'WRITES_OFF_NEEDS_READS_OFF: PROGRAM_VERSIONING_WRITES cannot be turned off while PROGRAM_VERSIONING_READS is on'
        USING ERRCODE = 'PVF02', HINT = 'turn PROGRAM_VERSIONING_READS off first';
    END IF;
  ELSE
    NEW.percent := 100;  -- all or nothing: legacy is read-only for everyone or for no one
    IF NEW.enabled <> OLD.enabled THEN
      -- Wait for the saves in flight (each holds this lock shared), and hold back new ones
      -- until this flip commits: no save decides its side under one state and commits under
      -- the other. The caller's lock_timeout bounds the wait.
      PERFORM pg_advisory_xact_lock(8103783762281718649);
    END IF;
    IF NEW.enabled AND NOT OLD.enabled THEN
      IF NOT (writes.enabled AND reads.enabled AND reads.percent = 100) THEN
        RAISE EXCEPTION 'LEGACY_READONLY_NEEDS_FULL_READS: PROGRAM_VERSIONING_LEGACY_READONLY needs PROGRAM_VERSIONING_WRITES on and PROGRAM_VERSIONING_READS on at 100 %%'
          USING ERRCODE = 'PVF05', HINT = 'finish phase 4 first: flags set PROGRAM_VERSIONING_READS on --percent 100';
      END IF;
      -- The moment READS last reached 100 %: a clean check must have started after it.
      SELECT max(changed_at) INTO since FROM runtime_flag_audit
       WHERE name = 'PROGRAM_VERSIONING_READS' AND new_enabled AND new_percent = 100
         AND NOT (coalesce(old_enabled, false) AND coalesce(old_percent, 0) = 100);
      missing := runtime_flags_missing_evidence(since, 'PROGRAM_VERSIONING_READS reached 100 %');
      IF missing IS NOT NULL THEN
        IF NOT forced THEN
          RAISE EXCEPTION 'LEGACY_READONLY_NEEDS_CLEAN_CHECK: %', missing
            USING ERRCODE = 'PVF06',
                  HINT = 'run program-versioning check until it reports no differences, or flip with --force --reason';
        END IF;
        needs_clean_check := true;
      END IF;
    ELSIF OLD.enabled AND NOT NEW.enabled THEN
      IF EXISTS (SELECT 1 FROM legacy_retirements WHERE restored_at IS NULL) THEN
        RAISE EXCEPTION 'LEGACY_RETIRED: PROGRAM_VERSIONING_LEGACY_READONLY cannot be turned off while the legacy JSON is retired'
          USING ERRCODE = 'PVF10', HINT = 'run program-versioning legacy restore first';
      END IF;
      SELECT count(*) INTO behind FROM program_versioning_legacy_behind();
      IF behind > 0 THEN
        RAISE EXCEPTION 'LEGACY_BEHIND: the legacy JSON of % programs is behind their latest version', behind
          USING ERRCODE = 'PVF09',
                HINT = 'run program-versioning backfill legacy --flag-off: it writes legacy back and turns the flag off as it finishes, while the app keeps saving';
      END IF;
    END IF;
  END IF;

  IF needs_clean_check AND reason IS NULL THEN
    RAISE EXCEPTION 'FORCE_NEEDS_REASON: a forced flip must say why'
      USING ERRCODE = 'PVF04', HINT = 'add --reason TEXT';
  END IF;
  NEW.updated_at := now();
  NEW.updated_by := coalesce(nullif(current_setting('program_versioning.actor', true), ''), current_user);
  RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose Down
SET LOCAL lock_timeout = '5s';
-- Rolling back with versions the legacy JSON does not hold would hide those edits from
-- every reader of legacy: refuse until the flag is off (which needs legacy up to date).
-- +goose StatementBegin
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY' AND enabled)
     OR EXISTS (SELECT 1 FROM program_versioning_legacy_behind()) THEN
    RAISE EXCEPTION 'refusing to roll back phase 5: PROGRAM_VERSIONING_LEGACY_READONLY is on or the legacy JSON is behind the versions'
      USING HINT = 'run program-versioning backfill legacy --flag-off, then migrate down';
  END IF;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_enforce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  other runtime_flags%ROWTYPE;
  forced boolean := coalesce(current_setting('program_versioning.force', true), '') = 'on';
  reason text := nullif(current_setting('program_versioning.reason', true), '');
  writes_on_at timestamptz;
BEGIN
  IF NEW.name <> OLD.name THEN
    RAISE EXCEPTION 'a flag cannot be renamed' USING ERRCODE = 'PVF00';
  END IF;
  SELECT * INTO other FROM runtime_flags WHERE name <> NEW.name FOR UPDATE;
  IF NEW.name = 'PROGRAM_VERSIONING_READS' THEN
    IF NEW.enabled AND NOT other.enabled THEN
      RAISE EXCEPTION 'READS_NEEDS_WRITES: PROGRAM_VERSIONING_READS cannot be on while PROGRAM_VERSIONING_WRITES is off'
        USING ERRCODE = 'PVF01', HINT = 'turn PROGRAM_VERSIONING_WRITES on first';
    END IF;
    IF NEW.enabled AND NOT OLD.enabled THEN
      SELECT max(changed_at) INTO writes_on_at FROM runtime_flag_audit
       WHERE name = 'PROGRAM_VERSIONING_WRITES' AND new_enabled AND NOT coalesce(old_enabled, false);
      IF NOT EXISTS (SELECT 1 FROM check_runs
                      WHERE status = 'CLEAN' AND user_filter IS NULL AND finished_at IS NOT NULL
                        AND started_at > coalesce(writes_on_at, '-infinity')) THEN
        IF NOT forced THEN
          RAISE EXCEPTION 'READS_NEEDS_CLEAN_CHECK: no clean consistency run since PROGRAM_VERSIONING_WRITES was turned on'
            USING ERRCODE = 'PVF03',
                  HINT = 'run program-versioning check until it reports no differences, or flip with --force --reason';
        ELSIF reason IS NULL THEN
          RAISE EXCEPTION 'FORCE_NEEDS_REASON: a forced flip must say why'
            USING ERRCODE = 'PVF04', HINT = 'add --reason TEXT';
        END IF;
      END IF;
    END IF;
  ELSE
    IF NOT NEW.enabled AND other.enabled THEN
      RAISE EXCEPTION 'WRITES_OFF_NEEDS_READS_OFF: PROGRAM_VERSIONING_WRITES cannot be turned off while PROGRAM_VERSIONING_READS is on'
        USING ERRCODE = 'PVF02', HINT = 'turn PROGRAM_VERSIONING_READS off first';
    END IF;
  END IF;
  NEW.updated_at := now();
  NEW.updated_by := coalesce(nullif(current_setting('program_versioning.actor', true), ''), current_user);
  RETURN NEW;
END
$$;
-- +goose StatementEnd
DROP FUNCTION runtime_flags_missing_evidence(timestamptz, text);
DROP TRIGGER programs_legacy_readonly_insert_delete ON programs;
DROP TRIGGER programs_legacy_readonly_update ON programs;
DROP FUNCTION programs_refuse_legacy_change();
DROP FUNCTION program_versioning_insert_program(uuid, uuid, jsonb);
DROP FUNCTION program_versioning_legacy_readonly_for_save();
DROP FUNCTION program_versioning_legacy_behind();
ALTER TABLE check_runs DROP COLUMN legacy_behind;
-- Rows of the legacy kind would break the old constraint: their history goes with it.
DELETE FROM backfill_reports WHERE run_id IN (SELECT id FROM backfill_runs WHERE kind = 'legacy');
DELETE FROM backfill_runs WHERE kind = 'legacy';
ALTER TABLE backfill_runs DROP COLUMN written;
ALTER TABLE backfill_runs DROP CONSTRAINT backfill_runs_kind_check;
ALTER TABLE backfill_runs ADD CONSTRAINT backfill_runs_kind_check CHECK (kind IN ('programs', 'sessions'));
DROP TABLE legacy_retirements;
DROP TABLE legacy_backups;
DROP TABLE legacy_syncs;
DROP INDEX program_versions_not_in_legacy;
ALTER TABLE program_versions DROP COLUMN written_to_legacy;
-- The flag row goes; its audit rows stay (history is kept).
ALTER TABLE runtime_flags DISABLE TRIGGER runtime_flags_keep_rows;
DELETE FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY';
ALTER TABLE runtime_flags ENABLE TRIGGER runtime_flags_keep_rows;
ALTER TABLE runtime_flags DROP CONSTRAINT runtime_flags_name_check;
ALTER TABLE runtime_flags ADD CONSTRAINT runtime_flags_name_check
  CHECK (name IN ('PROGRAM_VERSIONING_WRITES', 'PROGRAM_VERSIONING_READS'));
