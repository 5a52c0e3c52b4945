-- `backfill sessions` also counts the logged sets it linked and the ones it reported
-- (a session is linked even when one of its sets is reported).

-- +goose Up
ALTER TABLE backfill_runs
  ADD COLUMN sets_linked bigint NOT NULL DEFAULT 0,
  ADD COLUMN sets_reported bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE backfill_runs DROP COLUMN sets_reported, DROP COLUMN sets_linked;
