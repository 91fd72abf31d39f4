-- migration: no-transaction
-- Converting a procrastinate 3.x database, post phase, step 8: 3.x's indexes
-- that ours replaced are dropped, and our unique index on queueing locks is
-- built under a _new name (step 10 gives it its name), all without blocking
-- writes. Safe to re-run.
drop index concurrently if exists idx_procrastinate_jobs_worker_not_null;
drop index concurrently if exists procrastinate_jobs_id_lock_idx_v1;
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- Allowed (squawk), why: CONCURRENTLY waits for running transactions by
-- design and blocks neither reads nor writes; a build may take long.

drop index concurrently if exists procrastinate_jobs_queueing_lock_idx_v1_new;
create unique index concurrently if not exists procrastinate_jobs_queueing_lock_idx_v1_new
on procrastinate_jobs (md5(queueing_lock))
where status = 'todo' and attempts = 0 and queueing_lock is not null;

drop index concurrently if exists procrastinate_jobs_queueing_lock_lookup_idx_v1;
create index concurrently if not exists procrastinate_jobs_queueing_lock_lookup_idx_v1
on procrastinate_jobs (md5(queueing_lock))
where status = 'todo' and queueing_lock is not null;
