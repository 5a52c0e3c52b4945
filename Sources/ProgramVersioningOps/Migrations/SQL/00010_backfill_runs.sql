-- One row per backfill run (what it saw and did, the flags in force, where it stopped so a
-- killed run resumes), and one row per record it could not migrate: nothing is dropped
-- silently.

-- +goose Up
CREATE TABLE backfill_runs (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('programs', 'sessions')),
  dry_run boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'INTERRUPTED')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  flags jsonb NOT NULL DEFAULT '{}'::jsonb,
  options jsonb NOT NULL DEFAULT '{}'::jsonb,
  cursor_key text,
  seen bigint NOT NULL DEFAULT 0,
  migrated bigint NOT NULL DEFAULT 0,
  unchanged bigint NOT NULL DEFAULT 0,
  linked bigint NOT NULL DEFAULT 0,
  already_linked bigint NOT NULL DEFAULT 0,
  reported bigint NOT NULL DEFAULT 0,
  counts_before jsonb,
  counts_after jsonb,
  error text);

CREATE TABLE backfill_reports (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES backfill_runs (id),
  program_id uuid,
  session_id uuid,
  logged_set_id uuid,
  reason text NOT NULL,
  path text,
  detail text,
  created_at timestamptz NOT NULL DEFAULT now());

CREATE INDEX backfill_reports_run ON backfill_reports (run_id);
CREATE INDEX backfill_reports_program ON backfill_reports (program_id);

-- +goose Down
DROP TABLE backfill_reports;
DROP TABLE backfill_runs;
