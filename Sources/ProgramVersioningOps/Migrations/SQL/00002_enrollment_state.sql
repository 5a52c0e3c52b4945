-- Where a user stands in their program's cycle and week.
-- ADD COLUMN with a constant default is a catalog change in PostgreSQL 11+: no table rewrite.

-- +goose Up
SET LOCAL lock_timeout = '5s';
ALTER TABLE user_program_states
  ADD COLUMN cycle_status text NOT NULL DEFAULT 'PENDING'
    CONSTRAINT user_program_states_cycle_status_check CHECK (cycle_status IN ('PENDING', 'IN_PROGRESS', 'COMPLETED')),
  ADD COLUMN week_status text NOT NULL DEFAULT 'PENDING'
    CONSTRAINT user_program_states_week_status_check CHECK (week_status IN ('PENDING', 'IN_PROGRESS', 'COMPLETED'));

-- +goose Down
SET LOCAL lock_timeout = '5s';
ALTER TABLE user_program_states DROP COLUMN week_status, DROP COLUMN cycle_status;
