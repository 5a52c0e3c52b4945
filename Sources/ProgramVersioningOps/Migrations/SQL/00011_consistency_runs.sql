-- Each consistency check run and its findings, so a report can say what is new since the
-- last run, what was fixed, and show a trend. The flag rule "READS on needs a clean check
-- newer than the last time WRITES went on" reads check_runs.

-- +goose Up
CREATE TABLE check_runs (
  id uuid PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'CLEAN', 'DIFFERENCES', 'FAILED')),
  flags jsonb NOT NULL DEFAULT '{}'::jsonb,
  user_filter uuid,
  programs_checked bigint NOT NULL DEFAULT 0,
  sessions_checked bigint NOT NULL DEFAULT 0,
  difference_count bigint NOT NULL DEFAULT 0,
  counts_by_kind jsonb NOT NULL DEFAULT '{}'::jsonb);

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
CREATE INDEX check_runs_finished ON check_runs (finished_at DESC);

-- +goose Down
DROP TABLE check_findings;
DROP TABLE check_runs;
