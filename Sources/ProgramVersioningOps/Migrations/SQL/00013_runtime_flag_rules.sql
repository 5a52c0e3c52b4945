-- The flag store enforces the rollout's rules itself (DESIGN.md §1, §4), so no client, two
-- racing operators, or a hand-written UPDATE can reach an invalid state or flip without a
-- trace:
--   * PROGRAM_VERSIONING_READS cannot be on while PROGRAM_VERSIONING_WRITES is off;
--   * WRITES can be turned off only after READS is off;
--   * READS can be turned on only after a clean, complete consistency run that started
--     after WRITES was last turned on, unless forced with a reason.
-- Every update locks the other flag first, so two flips of different flags serialize and
-- the second one is checked against the first one's result. Every update writes an audit
-- row and notifies listeners (channel program_versioning_flags) when it commits. Who, why
-- and whether it was forced come from transaction settings the CLI sets
-- (program_versioning.actor, .reason, .force); a plain UPDATE is audited as current_user.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION runtime_flags_enforce() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- +goose StatementBegin
CREATE FUNCTION runtime_flags_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO runtime_flag_audit (name, old_enabled, new_enabled, old_percent, new_percent, actor, reason, forced, changed_at)
  VALUES (NEW.name, OLD.enabled, NEW.enabled, OLD.percent, NEW.percent, NEW.updated_by,
          nullif(current_setting('program_versioning.reason', true), ''),
          coalesce(current_setting('program_versioning.force', true), '') = 'on', NEW.updated_at);
  PERFORM pg_notify('program_versioning_flags', NEW.name);
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION runtime_flags_keep_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on runtime_flags: the two flags always exist; flip them instead', TG_OP USING ERRCODE = 'PVF00';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER runtime_flags_enforce BEFORE UPDATE ON runtime_flags FOR EACH ROW EXECUTE FUNCTION runtime_flags_enforce();
CREATE TRIGGER runtime_flags_audit AFTER UPDATE ON runtime_flags FOR EACH ROW EXECUTE FUNCTION runtime_flags_audit();
CREATE TRIGGER runtime_flags_keep_rows BEFORE DELETE ON runtime_flags FOR EACH ROW EXECUTE FUNCTION runtime_flags_keep_rows();
CREATE TRIGGER runtime_flags_no_truncate BEFORE TRUNCATE ON runtime_flags FOR EACH STATEMENT EXECUTE FUNCTION runtime_flags_keep_rows();
CREATE INDEX runtime_flag_audit_by_name ON runtime_flag_audit (name, changed_at DESC);

-- +goose Down
DROP INDEX runtime_flag_audit_by_name;
DROP TRIGGER runtime_flags_no_truncate ON runtime_flags;
DROP TRIGGER runtime_flags_keep_rows ON runtime_flags;
DROP TRIGGER runtime_flags_audit ON runtime_flags;
DROP TRIGGER runtime_flags_enforce ON runtime_flags;
DROP FUNCTION runtime_flags_keep_rows();
DROP FUNCTION runtime_flags_audit();
DROP FUNCTION runtime_flags_enforce();
