-- Converting a procrastinate 3.x (3.10) database, pre phase, step 1: the tables.
-- Everything here keeps procrastinate 3.x workers working: they only ever name
-- the columns they know, and new columns are nullable or defaulted.
-- Takes brief ACCESS EXCLUSIVE locks (no rewrite, no scan): lock_timeout makes
-- the step fail, rather than queue every worker behind it, on a busy database;
-- re-run it.
-- squawk-ignore-file changing-column-type
-- squawk-ignore-file prefer-bigint-over-int
-- squawk-ignore-file renaming-table
-- squawk-ignore-file renaming-object
-- squawk-ignore-file ban-drop-table
-- squawk-ignore-file require-concurrent-index-creation
-- squawk-ignore-file adding-foreign-key-constraint
-- squawk-ignore-file require-statement-timeout
-- Allowed (squawk), why:
-- changing-column-type: varchar(128) -> text is binary-coercible, PostgreSQL
--   rewrites neither the table nor its indexes; the lock is brief.
-- prefer-bigint-over-int: the column types are those of sql/10_tables.sql.
-- renaming-table, renaming-object, ban-drop-table: the procrastinate_workers
--   rebuild; the new table takes the old one's name, sequence and key names,
--   which is what clients (3.x ones too) use.
-- require-concurrent-index-creation: the index is on the table this very
--   transaction creates (a few rows).
-- adding-foreign-key-constraint: NOT VALID, no scan; brief lock.
-- require-statement-timeout: lock_timeout below bounds the waits that would
--   block workers; nothing here is slow once the locks are held.
set local lock_timeout = '10s';

-- varchar(128) -> text: binary-coercible, so neither the table nor its indexes
-- are rewritten. Needed before our functions run: RETURN QUERY insists on the
-- exact column types (text).
alter table procrastinate_jobs
alter column queue_name type text,
alter column task_name type text;

alter table procrastinate_periodic_defers
alter column task_name type text,
alter column periodic_id type text,
alter column periodic_id set default '';

-- Our job columns, in sql/10_tables.sql's order. Defaults are constants or
-- now() (not volatile): PostgreSQL stores them once, no rewrite. created_at
-- is the time of this step for existing jobs until step 6 fills it from their
-- 'deferred' event. The checks are not valid yet (no scan under the lock):
-- they hold for new rows at once, step 5 validates the old ones.
alter table procrastinate_jobs
add column max_attempts integer,
add column retry_wait double precision not null default 0,
add column retry_linear_wait double precision not null default 0,
add column retry_exponential_wait double precision not null default 0,
add column retry_exceptions text[],
add column created_at timestamptz not null default now(),
add column started_at timestamptz,
add column finished_at timestamptz,
add column last_error text,
add column last_error_types text[],
add column rescue_count integer not null default 0,
add constraint procrastinate_jobs_task_name_not_empty
check (task_name <> '') not valid,
add constraint procrastinate_jobs_queue_name_not_empty
check (queue_name <> '') not valid,
add constraint procrastinate_jobs_args_is_object
check (jsonb_typeof(args) = 'object') not valid,
add constraint procrastinate_jobs_max_attempts_not_negative
check (max_attempts >= 0) not valid,
add constraint procrastinate_jobs_retry_waits_not_negative check (
    retry_wait >= 0 and retry_linear_wait >= 0 and retry_exponential_wait >= 0
) not valid;

-- procrastinate_workers is rebuilt with our columns in our order (a table's
-- column order is fixed at creation; a fresh install has last_heartbeat last).
-- It holds one row per running worker: copying it is instant. 3.x workers
-- insert default rows, update last_heartbeat and delete rows: all still work.
lock table procrastinate_workers in access exclusive mode;

create table procrastinate_workers_new (
    id bigint primary key generated always as identity,
    name text not null default 'worker',
    host text,
    pid integer,
    queues text[],
    concurrency integer,
    started_at timestamptz not null default now(),
    last_heartbeat timestamptz not null default now()
);

insert into procrastinate_workers_new (id, started_at, last_heartbeat)
overriding system value
select
    w.id,
    w.last_heartbeat as started_at,
    w.last_heartbeat
from procrastinate_workers as w;

drop table procrastinate_workers cascade;

alter table procrastinate_workers_new rename to procrastinate_workers;
alter sequence procrastinate_workers_new_id_seq rename to procrastinate_workers_id_seq;
alter table procrastinate_workers
rename constraint procrastinate_workers_new_pkey to procrastinate_workers_pkey;

select setval(
    'procrastinate_workers_id_seq',
    coalesce((select max(w.id) from procrastinate_workers as w), 0) + 1,
    false
);

create index procrastinate_workers_last_heartbeat_idx_v1
on procrastinate_workers (last_heartbeat);

-- 3.x compatibility until the post phase: 3.x finds the jobs of pruned workers
-- through this key's "on delete set null". Not valid: existing rows unchecked.
alter table procrastinate_jobs
add constraint procrastinate_jobs_worker_id_fkey foreign key (worker_id)
references procrastinate_workers (id) on delete set null not valid;
