-- Each version remembers the legacy row it was written with: `legacy_xmin` is the
-- transaction id (`xmin`) of the `programs` row version that holds the same program. A
-- read from the versioned tables compares it with the row's current `xmin`: when the
-- legacy JSON changed afterwards (a writer that bypassed the library, a restore), the
-- version is stale and the read falls back to legacy instead of serving old data.
-- NULL (versions written before this column) never matches, which is the safe side.

-- +goose Up
SET LOCAL lock_timeout = '5s';
ALTER TABLE program_versions ADD COLUMN legacy_xmin text;

-- +goose Down
SET LOCAL lock_timeout = '5s';
ALTER TABLE program_versions DROP COLUMN legacy_xmin;
