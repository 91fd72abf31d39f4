-- Drops the driver functions that 0011 superseded, once no worker of the
-- old code runs (docs/deploy.md): they were wrappers over the new versions,
-- and rescue_stalled_jobs_v1 still let a caller choose the stall threshold.
-- Dropping a function takes no lock on the queue's tables.
-- squawk-ignore-file ban-drop-function
-- Allowed (squawk), why: this step exists to drop them; run it once no
-- worker of the previous version runs (docs/deploy.md).
set local lock_timeout = '10s';
set local statement_timeout = '30s';

drop function if exists procrastinate_defer_jobs_v1(jsonb);
drop function if exists procrastinate_fetch_jobs_v1(bigint, text[], integer, timestamptz);
drop function if exists procrastinate_register_worker_v1(
    text, text[], integer, text, integer, timestamptz
);
drop function if exists procrastinate_unregister_worker_v1(bigint);
drop function if exists procrastinate_release_jobs_v1(bigint, bigint[]);
drop function if exists procrastinate_rescue_stalled_jobs_v1(
    double precision, integer, timestamptz
);
