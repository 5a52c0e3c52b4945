-- The nightly check runs as a role that can read everything and insert into one table
-- only: check_runs. A run is therefore written once, when it ends, as one row that holds
-- its findings (up to the checker's cap; the counts are always complete) and how many
-- were ignored by the ignore file. check_findings goes; nothing wrote it but the checker.

-- +goose Up
ALTER TABLE check_runs
  ADD COLUMN findings jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN findings_stored int NOT NULL DEFAULT 0,
  ADD COLUMN ignored_count bigint NOT NULL DEFAULT 0;
DROP TABLE check_findings;

-- +goose Down
CREATE TABLE check_findings (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES check_runs (id),
  program_id uuid,
  kind text NOT NULL,
  path text,
  legacy text,
  versioned text,
  ignored boolean NOT NULL DEFAULT false,
  ignore_reason text);
CREATE INDEX check_findings_run ON check_findings (run_id);
ALTER TABLE check_runs DROP COLUMN ignored_count, DROP COLUMN findings_stored, DROP COLUMN findings;
