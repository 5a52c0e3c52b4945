-- The runtime flag store (DESIGN.md §4) and its audit trail. The transition rules and the
-- NOTIFY that reaches running instances are added by the flags work on top of these tables.

-- +goose Up
CREATE TABLE runtime_flags (
  name text PRIMARY KEY CHECK (name IN ('PROGRAM_VERSIONING_WRITES', 'PROGRAM_VERSIONING_READS')),
  enabled boolean NOT NULL DEFAULT false,
  percent int NOT NULL DEFAULT 100 CHECK (percent BETWEEN 0 AND 100),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT current_user);

INSERT INTO runtime_flags (name, enabled, percent) VALUES
  ('PROGRAM_VERSIONING_WRITES', false, 100),
  ('PROGRAM_VERSIONING_READS', false, 0);

CREATE TABLE runtime_flag_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  old_enabled boolean,
  new_enabled boolean NOT NULL,
  old_percent int,
  new_percent int NOT NULL,
  actor text NOT NULL,
  reason text,
  forced boolean NOT NULL DEFAULT false,
  changed_at timestamptz NOT NULL DEFAULT now());

-- +goose Down
DROP TABLE runtime_flag_audit;
DROP TABLE runtime_flags;
