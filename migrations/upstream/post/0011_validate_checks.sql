-- Converting a procrastinate 3.x database, post phase, step 11: the check
-- recreated in step 7 is validated (SHARE UPDATE EXCLUSIVE: reads and writes
-- go on). When this step is applied the conversion is over: the schema is the
-- same as a fresh install's, and procrastinate_upstream_migrations, which
-- tracked the conversion, is dropped.
-- squawk-ignore-file require-statement-timeout
-- Allowed (squawk), why: require-statement-timeout: validation scans the jobs
-- table and may take long, without blocking reads or writes.
set local lock_timeout = '10s';

alter table procrastinate_jobs validate constraint check_not_todo_abort_requested;
