-- Converting a procrastinate 3.x database, post phase, step 10: our unique
-- index on md5(queueing_lock) takes the place and the name of 3.x's. Brief
-- ACCESS EXCLUSIVE lock.
-- squawk-ignore-file require-concurrent-index-deletion, renaming-object, require-statement-timeout
-- Allowed (squawk), why:
-- require-concurrent-index-deletion: the drop is in the same transaction as
--   the rename that takes its name (never an instant without the unique
--   rule); brief lock, bounded by lock_timeout.
-- renaming-object: ours takes the very name clients know.
-- require-statement-timeout: instant once locked.
set local lock_timeout = '10s';

drop index procrastinate_jobs_queueing_lock_idx_v1;
alter index procrastinate_jobs_queueing_lock_idx_v1_new
rename to procrastinate_jobs_queueing_lock_idx_v1;
