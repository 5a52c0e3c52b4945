-- Shadow-read consistency, stored (issue 19). App instances compare a sample of reads with
-- the other side (ShadowReads) and add up, per minute, what they saw: reads served from
-- each side with their errors and time, fallbacks to legacy, comparisons and mismatches
-- with the paths that differed. Each instance writes its minute's row from a background
-- task at most once per flush interval (an upsert that adds to the counts), never on a
-- request's path: the table grows by at most one row per instance per minute.
--
-- `status` shows the rates of the last hour; `flags ramp reads` advances READS while they
-- hold and turns READS off when one breaches. The rows are the app's own report: the
-- ramp's flips still pass the flag store's gates (a clean, fresh check), so no row can
-- push READS further than that evidence allows.

-- +goose Up
SET LOCAL lock_timeout = '5s';

CREATE TABLE shadow_read_minutes (
  minute timestamptz NOT NULL CHECK (minute = date_trunc('minute', minute)),
  instance text NOT NULL,
  legacy_reads bigint NOT NULL DEFAULT 0 CHECK (legacy_reads >= 0),
  legacy_read_errors bigint NOT NULL DEFAULT 0 CHECK (legacy_read_errors >= 0),
  legacy_read_ms double precision NOT NULL DEFAULT 0 CHECK (legacy_read_ms >= 0),
  versioned_reads bigint NOT NULL DEFAULT 0 CHECK (versioned_reads >= 0),
  versioned_read_errors bigint NOT NULL DEFAULT 0 CHECK (versioned_read_errors >= 0),
  versioned_read_ms double precision NOT NULL DEFAULT 0 CHECK (versioned_read_ms >= 0),
  fallbacks bigint NOT NULL DEFAULT 0 CHECK (fallbacks >= 0),
  saves bigint NOT NULL DEFAULT 0 CHECK (saves >= 0),
  save_errors bigint NOT NULL DEFAULT 0 CHECK (save_errors >= 0),
  compared bigint NOT NULL DEFAULT 0 CHECK (compared >= 0),
  mismatched bigint NOT NULL DEFAULT 0 CHECK (mismatched >= 0 AND mismatched <= compared),
  shadow_errors bigint NOT NULL DEFAULT 0 CHECK (shadow_errors >= 0),
  skipped bigint NOT NULL DEFAULT 0 CHECK (skipped >= 0),
  -- {"path": count} of the fields that differed (at most a few dozen per row).
  mismatch_paths jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (minute, instance));

-- +goose Down
SET LOCAL lock_timeout = '5s';
-- The app's per-minute shadow-read counts go with the table.
DROP TABLE shadow_read_minutes;
