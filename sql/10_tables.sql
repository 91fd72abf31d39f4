-- Tables of the queue and the indexes its functions rely on.
-- Column names shared with procrastinate 3.x are kept so that tools and
-- queries written for it keep working.

create table procrastinate_workers (
    id bigint primary key generated always as identity,
    name text not null default 'worker',
    host text,
    pid integer,
    queues text[],
    concurrency integer,
    started_at timestamptz not null default now(),
    last_heartbeat timestamptz not null default now(),
    -- the login role that registered the worker: only it (or the queue's
    -- owner and operators) may fetch, report and beat for this worker
    registered_by text,
    -- seconds of silence after which its jobs may be rescued (its lease);
    -- null: procrastinate_settings.stalled_worker_timeout
    stalled_after double precision,
    -- since when its heartbeat has had no gap longer than its lease (its
    -- start, when it never had one): see 65_rescue.sql for who may rescue
    alive_since timestamptz
);

create table procrastinate_jobs (
    id bigserial primary key,
    queue_name text not null,
    task_name text not null,
    priority integer not null default 0,
    lock text,
    queueing_lock text,
    args jsonb not null default '{}',
    status procrastinate_job_status not null default 'todo',
    scheduled_at timestamptz,
    attempts integer not null default 0,
    abort_requested boolean not null default false,
    -- The worker running (or that last ran) the job. No foreign key on
    -- purpose: removing a worker would otherwise rewrite every job it ever ran.
    worker_id bigint,
    -- retry policy, travelling with the job so that SQL decides retries
    -- (null: never retried, 0: retried without limit, n: while attempts < n;
    -- a defer's max_runs n is stored as n - 1, max_runs 1 as 1 with a
    -- retry_exceptions no failure matches, see 20_defer.sql)
    max_attempts integer,
    retry_wait double precision not null default 0,
    retry_linear_wait double precision not null default 0,
    retry_exponential_wait double precision not null default 0,
    retry_exceptions text[],
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    last_error text,
    last_error_types text[],
    -- times the job was taken back from a worker found dead (see 65_rescue.sql)
    rescue_count integer not null default 0,
    -- the login role that deferred the job: a producer sees only its own jobs
    deferred_by text,
    -- the claim that took the job (procrastinate_fetch_jobs_v5): a fetch
    -- retried after its answer was lost gets the same jobs back
    claim_token uuid,
    -- whether the return value of its run is kept (see 40_finish.sql); such a
    -- job is never deleted when it ends: retention removes it, result included
    store_result boolean not null default false,
    -- what the last run returned (store_result jobs that succeeded), or why
    -- that value is not here (too big, not JSON)
    result jsonb,
    result_error text,
    -- the traceback of the last failure, beside its message and types
    last_error_traceback text,
    -- the jobs it was deferred after (57_dependencies.sql): it waits, held
    -- scheduled far ahead, until they ended as after_policy ('succeeded' or
    -- 'always', checked at defer) asks
    parents bigint[],
    after_policy text,
    -- jobs were deferred after it: its end releases or cancels them
    has_dependents boolean not null default false,
    -- what its defer stored with it, a JSON object of strings: the W3C trace
    -- context of the defer (traceparent, tracestate) that the run's trace
    -- links to (procrastinate.tracing); null without any
    headers jsonb,
    -- the key of a concurrency limit this job falls under, given at defer
    -- ("tenant:42"; 59_limits.sql)
    limit_key text,
    -- started under a concurrency limit, so counted by the limit while it
    -- runs (procrastinate_jobs_limited_idx_v1); never set without limits
    limited boolean not null default false,
    -- seconds a run may last (procrastinate_fetch_jobs_v5 turns it into the
    -- deadline of each claim); null: no timeout. Given at defer (a task's
    -- default or the job's own; checked there, from 0 exclusive to 1e9)
    timeout double precision,
    -- the claim time plus the timeout, set by each claim: a job still doing
    -- past it (and a grace) is taken back by the rescue (65_rescue.sql).
    -- Meaningful while doing only
    deadline timestamptz,
    constraint procrastinate_jobs_task_name_not_empty check (task_name <> ''),
    constraint procrastinate_jobs_queue_name_not_empty check (queue_name <> ''),
    constraint procrastinate_jobs_args_is_object check (jsonb_typeof(args) = 'object'),
    constraint procrastinate_jobs_max_attempts_not_negative check (max_attempts >= 0),
    constraint procrastinate_jobs_retry_waits_not_negative check (
        retry_wait >= 0 and retry_linear_wait >= 0 and retry_exponential_wait >= 0
    ),
    constraint check_not_todo_abort_requested check (
        not (status = 'todo' and abort_requested)
    )
);

-- The jobs a job waits for, one row per (parent, dependent) while the parent
-- has not ended: the parent's end takes its rows away (57_dependencies.sql).
-- No foreign keys, as for events: the queue's functions keep it consistent.
create table procrastinate_job_dependencies (
    parent_id bigint not null,
    job_id bigint not null,
    primary key (parent_id, job_id)
);

create table procrastinate_periodic_defers (
    id bigserial primary key,
    task_name text not null,
    defer_timestamp bigint,
    job_id bigint references procrastinate_jobs (id) on delete set null,
    periodic_id text not null default '',
    constraint procrastinate_periodic_defers_unique unique (
        task_name, periodic_id, defer_timestamp
    )
);

-- No foreign key to procrastinate_jobs: checking one per event row doubled
-- the cost of every transition. Events of deleted jobs are removed by the
-- statement trigger procrastinate_jobs_delete_events_v1 instead.
create table procrastinate_events (
    id bigserial primary key,
    job_id bigint not null,
    type procrastinate_job_event_type,
    at timestamptz default now()
);

-- Limits and defaults that callers must not change: one row, written by the
-- owner of the schema only (no role is granted anything on it). The checks
-- are hard caps that even the owner cannot pass.
create table procrastinate_settings (
    singleton boolean primary key default true,
    -- args of a job: workers must be able to load every job they fetch
    -- (Python's json module gives up around 1000 levels of nesting)
    max_args_bytes bigint not null default 10485760,
    max_args_depth integer not null default 100,
    -- seconds without a heartbeat after which a worker's jobs are rescued,
    -- for workers that register without their own
    stalled_worker_timeout double precision not null default 30,
    -- rescues of one job before it ends failed
    max_rescues integer not null default 3,
    -- the largest result stored (jsonb bytes); a bigger one is not stored,
    -- and the job records why (procrastinate_jobs.result_error)
    max_result_bytes bigint not null default 1048576,
    -- false: a registered worker's claims, reports and heartbeats commit
    -- without waiting for their WAL to reach the disk (synchronous_commit
    -- off for those transactions only; 58_leases.sql, docs/reliability.md)
    worker_synchronous_commit boolean not null default true,
    -- which events procrastinate_events records (70_events.sql): 'full',
    -- every transition; 'outcomes', all but the 'deferred', 'started' and
    -- 'released' of the normal path; 'none', nothing
    history text not null default 'full',
    constraint procrastinate_settings_one_row check (singleton),
    constraint procrastinate_settings_max_args_bytes check (
        max_args_bytes between 1 and 268435456
    ),
    constraint procrastinate_settings_max_args_depth check (max_args_depth between 1 and 500),
    constraint procrastinate_settings_stalled_worker_timeout check (
        stalled_worker_timeout > 0
    ),
    constraint procrastinate_settings_max_rescues check (max_rescues >= 1),
    constraint procrastinate_settings_max_result_bytes check (
        max_result_bytes between 1 and 268435456
    ),
    constraint procrastinate_settings_history check (history in ('full', 'outcomes', 'none'))
);

insert into procrastinate_settings default values;

-- The row stays: without it every limit would read null, i.e. none.
create function _procrastinate_keep_settings()
returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
    raise exception 'procrastinate_settings keeps its one row: update it instead'
        using errcode = 'PT001';
end;
$$;

create trigger procrastinate_settings_keep_row_v1
before delete or truncate on procrastinate_settings
for each statement
execute function _procrastinate_keep_settings();

comment on table procrastinate_settings is
'Limits and defaults of the queue (one row): max_args_bytes and max_args_depth bound the args
of a deferred job; stalled_worker_timeout (seconds) is the lease of workers that register
without their own; max_rescues bounds how often one job is rescued; max_result_bytes bounds
a stored result; worker_synchronous_commit false lets the claims, reports and heartbeats of
registered workers commit without waiting for the disk (at-least-once still holds: a lost
claim or report is made again); history is what procrastinate_events records: full (every
transition, the default), outcomes (no deferred, started or released events), none (no
events). Only the schema owner
may change them (update procrastinate_settings set ...); the checks are hard caps.';

-- Paused queues are not fetched from (see procrastinate_fetch_jobs_v5).
create table procrastinate_paused_queues (
    queue_name text primary key,
    paused_at timestamptz not null default now()
);

-- Locks and queue names may be longer than a btree entry can hold (about
-- 2.7 kB), so the indexes below key them by md5 and the queries compare both
-- the hash (to use the index) and the text (to be exact).

-- At most one waiting job per queueing lock. Defer checks every waiting job
-- (procrastinate_validate_jobs_v1); this unique index guards fresh jobs
-- (attempts = 0) against concurrent defers. A job going back to the queue
-- for a retry is not in it, so a retry never fails because a job deferred
-- while it ran took its queueing lock.
create unique index procrastinate_jobs_queueing_lock_idx_v1
on procrastinate_jobs (md5(queueing_lock))
where status = 'todo' and attempts = 0 and queueing_lock is not null;

-- Defer's check of the queueing locks of all waiting jobs, retries included.
create index procrastinate_jobs_queueing_lock_lookup_idx_v1
on procrastinate_jobs (md5(queueing_lock))
where status = 'todo' and queueing_lock is not null;

-- At most one running job per lock: the last guard of lock arbitration.
create unique index procrastinate_jobs_lock_idx_v1
on procrastinate_jobs (md5(lock))
where status = 'doing' and lock is not null;

-- Lock arbitration looks up the first waiting job of a lock (the running
-- one, if any, is in procrastinate_jobs_lock_idx_v1). Waiting jobs only: a
-- claim would otherwise add an entry for the job it starts, and every probe
-- would step over the entries of the lock's finished jobs twice.
create index procrastinate_jobs_lock_order_idx_v2
on procrastinate_jobs (md5(lock), priority desc, id asc)
where status = 'todo' and lock is not null;

-- The first scheduled waiting job of a lock: the claim of all queues finds
-- the heads of locks among jobs not scheduled in one ordered walk, and only
-- a scheduled job (a retry waiting for its time, a job deferred for later)
-- can rank before such a head unseen. Few jobs are scheduled with a lock:
-- a probe of this index usually reads its root page only.
create index procrastinate_jobs_scheduled_lock_order_idx_v1
on procrastinate_jobs (md5(lock), priority desc, id asc)
where status = 'todo' and scheduled_at is not null and lock is not null;

-- Jobs a worker holds (abort checks, rescue of stalled workers). Not null
-- in its predicate so that a query for the running job of a lock cannot
-- pick it (with statistics saying few jobs run, reading every running job
-- looks as cheap as one probe of procrastinate_jobs_lock_idx_v1).
create index procrastinate_jobs_worker_idx_v2
on procrastinate_jobs (worker_id) where status = 'doing' and worker_id is not null;

-- The running jobs a concurrency limit counts (59_limits.sql). Jobs are
-- marked limited only while limits exist: without them it stays empty and a
-- claim adds no entry to it.
create index procrastinate_jobs_limited_idx_v1
on procrastinate_jobs (id) where status = 'doing' and limited;

-- Running jobs with a deadline, for the rescue of jobs past it
-- (65_rescue.sql): a job without a timeout never has an entry, so a claim of
-- one adds none.
create index procrastinate_jobs_deadline_idx_v1
on procrastinate_jobs (deadline) where status = 'doing' and deadline is not null;

-- The claim (procrastinate_fetch_jobs_v5) walks waiting jobs in fetch order
-- (priority, then id) and must never step over rows it cannot claim, or its
-- cost grows with the backlog. So waiting jobs are split between partial
-- indexes by what makes them claimable: ready jobs without a lock (all
-- claimable), ready jobs with a lock (claimable at the head of their lock
-- only), and jobs with a scheduled_at (claimable once due: walked by time, so
-- that jobs scheduled for later are never read). Each exists for all queues
-- and per queue (keyed by md5, as a queue name may be longer than a b-tree
-- entry allows; a b-tree, not a hash index: a hash index walks the whole
-- bucket of a key on every insert). A job is in two of them, as before the
-- split; claiming it (todo -> doing) takes it out of both.
create index procrastinate_jobs_ready_idx_v1
on procrastinate_jobs (priority desc, id asc)
where status = 'todo' and scheduled_at is null and lock is null;

create index procrastinate_jobs_ready_queue_idx_v1
on procrastinate_jobs (md5(queue_name), priority desc, id asc)
where status = 'todo' and scheduled_at is null and lock is null;

create index procrastinate_jobs_locked_idx_v1
on procrastinate_jobs (priority desc, id asc)
where status = 'todo' and scheduled_at is null and lock is not null;

create index procrastinate_jobs_locked_queue_idx_v1
on procrastinate_jobs (md5(queue_name), priority desc, id asc)
where status = 'todo' and scheduled_at is null and lock is not null;

create index procrastinate_jobs_scheduled_idx_v1
on procrastinate_jobs (scheduled_at)
where status = 'todo' and scheduled_at is not null;

create index procrastinate_jobs_scheduled_queue_idx_v1
on procrastinate_jobs (md5(queue_name), scheduled_at)
where status = 'todo' and scheduled_at is not null;

create index procrastinate_events_job_id_idx_v1
on procrastinate_events (job_id);

-- Whether a dependent job still waits for a parent.
create index procrastinate_job_dependencies_job_id_idx_v1
on procrastinate_job_dependencies (job_id);

create index procrastinate_periodic_defers_job_id_idx_v1
on procrastinate_periodic_defers (job_id);

create index procrastinate_workers_last_heartbeat_idx_v1
on procrastinate_workers (last_heartbeat);
