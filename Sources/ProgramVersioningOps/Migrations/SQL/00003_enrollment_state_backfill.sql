-- An enrollment that already has a current day is under way: its cycle and week are IN_PROGRESS.

-- +goose Up
UPDATE user_program_states
   SET cycle_status = 'IN_PROGRESS', week_status = 'IN_PROGRESS'
 WHERE current_day_index IS NOT NULL
   AND cycle_status = 'PENDING' AND week_status = 'PENDING';

-- +goose Down
UPDATE user_program_states
   SET cycle_status = 'PENDING', week_status = 'PENDING'
 WHERE current_day_index IS NOT NULL
   AND cycle_status = 'IN_PROGRESS' AND week_status = 'IN_PROGRESS';
