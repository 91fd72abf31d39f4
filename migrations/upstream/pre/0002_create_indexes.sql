-- migration: no-transaction
-- Converting a procrastinate 3.x database, pre phase, step 2: our indexes on
-- procrastinate_jobs, built without blocking writes (CONCURRENTLY, hence no
-- transaction: each statement commits on its own). Two of our index names
-- are taken by 3.x's indexes of a different definition: ours are built under
-- a _new name here and take the name in step 3 (the third, on queueing_lock,
-- waits for the post phase: see step 8). If this step fails half-way, run it
-- again: an index left invalid by the failure is dropped and rebuilt.
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- Allowed (squawk), why: CONCURRENTLY waits for running transactions by
-- design and blocks neither reads nor writes; a build may take long.

drop index concurrently if exists procrastinate_jobs_lock_idx_v1_new;
create unique index concurrently if not exists procrastinate_jobs_lock_idx_v1_new
on procrastinate_jobs (md5(lock))
where status = 'doing' and lock is not null;

drop index concurrently if exists procrastinate_jobs_queue_name_idx_v1_new;
create index concurrently if not exists procrastinate_jobs_queue_name_idx_v1_new
on procrastinate_jobs using hash (queue_name) where status = 'todo';

drop index concurrently if exists procrastinate_jobs_lock_order_idx_v1;
create index concurrently if not exists procrastinate_jobs_lock_order_idx_v1
on procrastinate_jobs (md5(lock), priority desc, id asc)
where status in ('todo', 'doing') and lock is not null;

drop index concurrently if exists procrastinate_jobs_worker_idx_v1;
create index concurrently if not exists procrastinate_jobs_worker_idx_v1
on procrastinate_jobs (worker_id) where status = 'doing';
