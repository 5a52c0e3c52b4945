-- Saves whose outcome is known (issue 16): a save that carries an idempotency key leaves a
-- receipt in the same transaction as what it wrote. When the connection is lost while the
-- save commits, the app cannot tell whether it committed; retrying with the same key finds
-- the receipt (it committed: the first outcome is returned, nothing is written twice) or
-- finds none (it did not: the save runs). Receipts are small and only needed for the
-- retries of one incident; `ProgramRepository.pruneSaveReceipts(olderThan:)` deletes old ones.

-- +goose Up
CREATE TABLE save_receipts (
  idempotency_key uuid PRIMARY KEY,
  program_id uuid NOT NULL,
  version int,
  revision text NOT NULL,
  created_version boolean NOT NULL,
  wrote_legacy boolean NOT NULL,
  saved_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX save_receipts_saved_at ON save_receipts (saved_at);

-- +goose Down
DROP TABLE save_receipts;
