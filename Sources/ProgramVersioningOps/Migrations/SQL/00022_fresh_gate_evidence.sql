-- Gates on fresh evidence (issue 19). A clean check of any age let READS go on, and only
-- the first step of READS was gated. Now:
--
--   * runtime_flags.max_check_age: how old the clean check a flip of this flag relies on may
--     be (default 24 h; PlanetScale calls a verification older than that stale). Stored
--     with the flag, audited with it (old and new value); a longer age needs a reason.
--   * READS on, and every higher percent, needs a clean operator-recorded check finished
--     within the READS row's max age; LEGACY_READONLY on likewise with its own row's.
--   * Evidence the store can see against it: a check run finished after that clean run
--     that found STALE_VERSION or MISSING_VERSION differences (whoever recorded it: a
--     report of trouble can only hold a flip back, never let one through).
--   * runtime_flags_gate_missing(gate, max_age): the one place a gate's evidence is judged,
--     shared by the trigger and `program-versioning status`.

-- +goose Up
SET LOCAL lock_timeout = '5s';

ALTER TABLE runtime_flags ADD COLUMN max_check_age interval NOT NULL DEFAULT '24 hours'
  CONSTRAINT runtime_flags_max_check_age_positive CHECK (max_check_age > interval '0');
ALTER TABLE runtime_flag_audit ADD COLUMN old_max_check_age interval, ADD COLUMN new_max_check_age interval;

DROP FUNCTION runtime_flags_missing_evidence(timestamptz, text);

-- An age as a person reads it: "40 s", "12 min", "3.5 h", "2.1 d".
-- +goose StatementBegin
CREATE FUNCTION program_versioning_age_text(age interval) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN s < 120 THEN round(s) || ' s'
              WHEN s < 7200 THEN round(s / 60) || ' min'
              WHEN s < 172800 THEN round(s / 3600, 1) || ' h'
              ELSE round(s / 86400, 1) || ' d' END
    FROM (SELECT extract(epoch FROM age)::numeric AS s) a
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION runtime_flags_missing_evidence(since timestamptz, moment text, max_age interval) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  clean record;
  newer record;
  changed bigint;
  unreported bigint;
BEGIN
  SELECT r.id, r.finished_at INTO clean FROM check_runs r
   WHERE r.status = 'CLEAN' AND r.user_filter IS NULL AND r.finished_at IS NOT NULL
     AND least(r.started_at, coalesce(r.data_as_of, r.started_at)) > coalesce(since, '-infinity')
     AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.recorded_by)
     AND has_table_privilege(r.recorded_by, 'runtime_flags', 'UPDATE')
   ORDER BY r.finished_at DESC LIMIT 1;
  IF NOT FOUND THEN
    RETURN 'no clean consistency run recorded by a role that may flip flags (an operator) since ' || moment;
  END IF;
  IF clean.finished_at < now() - max_age THEN
    RETURN format('the last clean consistency run (%s) finished %s ago, longer ago than the %s this flag accepts '
                  '(its max check age); run program-versioning check again',
                  clean.id, program_versioning_age_text(now() - clean.finished_at), program_versioning_age_text(max_age));
  END IF;
  SELECT r.id, coalesce((r.counts_by_kind->>'STALE_VERSION')::bigint, 0) AS stale,
         coalesce((r.counts_by_kind->>'MISSING_VERSION')::bigint, 0) AS missing
    INTO newer FROM check_runs r
   WHERE r.finished_at > clean.finished_at
     AND (coalesce((r.counts_by_kind->>'STALE_VERSION')::bigint, 0) > 0 OR coalesce((r.counts_by_kind->>'MISSING_VERSION')::bigint, 0) > 0)
   ORDER BY r.finished_at DESC LIMIT 1;
  IF FOUND THEN
    RETURN format('check run %s, newer than the clean run %s, found %s STALE_VERSION and %s MISSING_VERSION differences; '
                  'run backfill programs, then check again', newer.id, clean.id, newer.stale, newer.missing);
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

-- What the gate of `gate` (PROGRAM_VERSIONING_READS or PROGRAM_VERSIONING_LEGACY_READONLY)
-- finds missing now with a max check age of `max_age`: NULL when a flip may go on.
-- +goose StatementBegin
CREATE FUNCTION runtime_flags_gate_missing(gate text, max_age interval) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  since timestamptz;
BEGIN
  IF gate = 'PROGRAM_VERSIONING_READS' THEN
    -- The moment WRITES last went on: versions before it may have gone stale.
    SELECT max(changed_at) INTO since FROM runtime_flag_audit
     WHERE name = 'PROGRAM_VERSIONING_WRITES' AND new_enabled AND NOT coalesce(old_enabled, false);
    RETURN runtime_flags_missing_evidence(since, 'PROGRAM_VERSIONING_WRITES was turned on', max_age);
  ELSIF gate = 'PROGRAM_VERSIONING_LEGACY_READONLY' THEN
    -- The moment READS last reached 100 %: a clean check must have started after it.
    SELECT max(changed_at) INTO since FROM runtime_flag_audit
     WHERE name = 'PROGRAM_VERSIONING_READS' AND new_enabled AND new_percent = 100
       AND NOT (coalesce(old_enabled, false) AND coalesce(old_percent, 0) = 100);
    RETURN runtime_flags_missing_evidence(since, 'PROGRAM_VERSIONING_READS reached 100 %', max_age);
  END IF;
  RAISE EXCEPTION 'no gate named %', gate USING ERRCODE = 'invalid_parameter_value';
END
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
    IF NEW.enabled AND (NOT OLD.enabled OR NEW.percent > OLD.percent) THEN
      missing := runtime_flags_gate_missing('PROGRAM_VERSIONING_READS', NEW.max_check_age);
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
      missing := runtime_flags_gate_missing('PROGRAM_VERSIONING_LEGACY_READONLY', NEW.max_check_age);
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

  IF NEW.max_check_age > OLD.max_check_age AND reason IS NULL THEN
    RAISE EXCEPTION 'MAX_CHECK_AGE_NEEDS_REASON: a longer max check age (% instead of %) accepts older evidence and must say why',
                    NEW.max_check_age, OLD.max_check_age
      USING ERRCODE = 'PVF11', HINT = 'add --reason TEXT';
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.enabled = NEW.enabled AND OLD.percent = NEW.percent AND OLD.max_check_age = NEW.max_check_age THEN
    RETURN NULL;  -- nothing changed: nothing to audit, no one to tell
  END IF;
  INSERT INTO runtime_flag_audit (name, old_enabled, new_enabled, old_percent, new_percent, actor, reason, forced, changed_at, login,
                                  old_max_check_age, new_max_check_age)
  VALUES (NEW.name, OLD.enabled, NEW.enabled, OLD.percent, NEW.percent, NEW.updated_by,
          nullif(current_setting('program_versioning.reason', true), ''),
          coalesce(current_setting('program_versioning.force', true), '') = 'on', NEW.updated_at, session_user,
          OLD.max_check_age, NEW.max_check_age);
  PERFORM pg_notify('program_versioning_flags', NEW.name);
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
SET LOCAL lock_timeout = '5s';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.enabled = NEW.enabled AND OLD.percent = NEW.percent THEN
    RETURN NULL;  -- nothing changed: nothing to audit, no one to tell
  END IF;
  INSERT INTO runtime_flag_audit (name, old_enabled, new_enabled, old_percent, new_percent, actor, reason, forced, changed_at, login)
  VALUES (NEW.name, OLD.enabled, NEW.enabled, OLD.percent, NEW.percent, NEW.updated_by,
          nullif(current_setting('program_versioning.reason', true), ''),
          coalesce(current_setting('program_versioning.force', true), '') = 'on', NEW.updated_at, session_user);
  PERFORM pg_notify('program_versioning_flags', NEW.name);
  RETURN NULL;
END
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

DROP FUNCTION runtime_flags_gate_missing(text, interval);
DROP FUNCTION runtime_flags_missing_evidence(timestamptz, text, interval);
DROP FUNCTION program_versioning_age_text(interval);
-- +goose StatementBegin
CREATE FUNCTION runtime_flags_missing_evidence(since timestamptz, moment text) RETURNS text LANGUAGE plpgsql STABLE AS $$
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

-- The ages the flags accepted, and the audit of their changes, go with these columns.
ALTER TABLE runtime_flag_audit DROP COLUMN new_max_check_age, DROP COLUMN old_max_check_age;
ALTER TABLE runtime_flags DROP COLUMN max_check_age;
