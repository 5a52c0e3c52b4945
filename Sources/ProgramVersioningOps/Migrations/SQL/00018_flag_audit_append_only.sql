-- The flag audit trail as evidence (issue 16): append-only in the database, the real login
-- on every row, no rows for flips that change nothing, and no forced flip without a reason.
--
--   * runtime_flag_audit.login is session_user, the role that logged in, whatever actor the
--     flip declared (program_versioning.actor is any text a client likes; it stays, beside
--     the login, never instead of it). Rows written before this migration have no login.
--   * UPDATE, DELETE and TRUNCATE of runtime_flag_audit are refused, as for the version
--     tables; a correction is a new flip.
--   * A flip that leaves the flag as it was (same state, same percent) writes no audit row
--     and notifies no one.
--   * program_versioning.force = 'on' without program_versioning.reason is refused on every
--     flip, not only on the flips whose gate it would pass.

-- +goose Up
SET LOCAL lock_timeout = '5s';
ALTER TABLE runtime_flag_audit ADD COLUMN login text;
ALTER TABLE runtime_flag_audit ALTER COLUMN login SET DEFAULT session_user;

-- For every table kept as evidence (this one; check_runs from migration 20).
-- +goose StatementBegin
CREATE FUNCTION program_versioning_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on %: the table is append-only (it is evidence)', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation', HINT = 'a correction is a new row: a new flip with --reason, a new check run';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER runtime_flag_audit_append_only BEFORE UPDATE OR DELETE ON runtime_flag_audit
  FOR EACH ROW EXECUTE FUNCTION program_versioning_append_only();
CREATE TRIGGER runtime_flag_audit_no_truncate BEFORE TRUNCATE ON runtime_flag_audit
  FOR EACH STATEMENT EXECUTE FUNCTION program_versioning_append_only();

-- +goose StatementBegin
CREATE FUNCTION runtime_flags_force_needs_reason() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('program_versioning.force', true), '') = 'on'
     AND nullif(current_setting('program_versioning.reason', true), '') IS NULL THEN
    RAISE EXCEPTION 'FORCE_NEEDS_REASON: a forced flip must say why'
      USING ERRCODE = 'PVF04', HINT = 'add --reason TEXT';
  END IF;
  RETURN NEW;
END
$$;
-- +goose StatementEnd

-- Named to fire before runtime_flags_enforce (triggers of one event fire in name order).
CREATE TRIGGER runtime_flags_a_force_needs_reason BEFORE UPDATE ON runtime_flags
  FOR EACH ROW EXECUTE FUNCTION runtime_flags_force_needs_reason();

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

-- +goose Down
SET LOCAL lock_timeout = '5s';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runtime_flags_audit() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP TRIGGER runtime_flags_a_force_needs_reason ON runtime_flags;
DROP FUNCTION runtime_flags_force_needs_reason();
DROP TRIGGER runtime_flag_audit_no_truncate ON runtime_flag_audit;
DROP TRIGGER runtime_flag_audit_append_only ON runtime_flag_audit;
DROP FUNCTION program_versioning_append_only();
-- The logins recorded since go with the column; the rest of every row stays.
ALTER TABLE runtime_flag_audit DROP COLUMN login;
