-- Defer's check of queueing locks (procrastinate_validate_jobs_v1) joined
-- the jobs of a batch to every waiting job holding a queueing lock with a
-- hash join (the planner guesses 100 jobs per batch): 0.4 s per defer with
-- 100,000 such jobs waiting (issue 13). Without hash, merge and bitmap scans
-- it probes procrastinate_jobs_queueing_lock_lookup_idx_v1 once per job of
-- the batch: 0.03 ms. ALTER FUNCTION, so that its body is left as it is.
-- Changing a function's settings takes no lock on the queue's tables; the
-- timeouts bound the wait on the catalog should anything hold it.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

alter function procrastinate_validate_jobs_v1(jsonb)
set enable_hashjoin = off
set enable_mergejoin = off
set enable_bitmapscan = off;
