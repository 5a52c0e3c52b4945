-- `backfill programs --workers N` (issue 20): the program id space split into N ranges,
-- one worker each, on its own connection. Each range keeps its own keyset cursor and the
-- rows its batches skipped because another transaction held them; a worker's batch moves
-- its range's row and adds its counts to the run's row in the batch's own transaction, so
-- a run killed at any point resumes every range after its last committed batch and counts
-- every program once. The bounds are fixed when the run starts (quantiles of the ids), so
-- a resumed run covers exactly the same ranges. The rows are scratch: deleted when the run
-- succeeds (an unfinished run's rows are what it resumes from).

-- +goose Up
SET LOCAL lock_timeout = '5s';

CREATE TABLE backfill_run_ranges (
  run_id uuid NOT NULL REFERENCES backfill_runs (id),
  worker smallint NOT NULL CHECK (worker >= 1),
  -- Inclusive; NULL: from the first key.
  range_start uuid,
  -- Exclusive; NULL: to the last key.
  range_end uuid,
  cursor_key uuid,
  deferred uuid[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, worker),
  CHECK (range_start IS NULL OR range_end IS NULL OR range_start < range_end));

-- +goose Down
SET LOCAL lock_timeout = '5s';
DROP TABLE backfill_run_ranges;
