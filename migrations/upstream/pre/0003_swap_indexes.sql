-- Converting a procrastinate 3.x database, pre phase, step 3: our indexes take
-- their names. 3.x's unique index on lock gives way to ours (same rule, keyed
-- by md5 so that long locks fit), and so does its index on queue_name. Its
-- unique index on queueing_lock stays until the post phase: a 3.x producer
-- turns a violation of it into AlreadyEnqueued only when the error's detail
-- reads "Key (queueing_lock)=(...)", which an index on md5(queueing_lock)
-- would not say (our functions check queueing locks before inserting, so
-- they need no more than 3.x's index meanwhile). Indexes identical to ours
-- under another name are renamed. Brief ACCESS EXCLUSIVE lock for the drops.
-- squawk-ignore-file require-concurrent-index-deletion, renaming-object, require-statement-timeout
-- Allowed (squawk), why:
-- require-concurrent-index-deletion: each drop is in the same transaction as
--   the rename that takes its name, so that the name never goes missing; the
--   lock is brief and bounded by lock_timeout.
-- renaming-object: the new names are ours; 3.x clients name none of these.
-- require-statement-timeout: dropping and renaming are instant once locked.
set local lock_timeout = '10s';


drop index procrastinate_jobs_lock_idx_v1;
alter index procrastinate_jobs_lock_idx_v1_new rename to procrastinate_jobs_lock_idx_v1;

drop index procrastinate_jobs_queue_name_idx_v1;
alter index procrastinate_jobs_queue_name_idx_v1_new
rename to procrastinate_jobs_queue_name_idx_v1;

alter index procrastinate_jobs_priority_idx_v1 rename to procrastinate_jobs_fetch_idx_v1;
alter index procrastinate_events_job_id_fkey_v1 rename to procrastinate_events_job_id_idx_v1;
alter index procrastinate_periodic_defers_job_id_fkey_v1
rename to procrastinate_periodic_defers_job_id_idx_v1;
