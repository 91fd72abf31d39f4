-- The indexes the functions rely on exist, and no other.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select indexes_are(
    'procrastinate_jobs',
    array[
        'procrastinate_jobs_pkey',
        'procrastinate_jobs_queueing_lock_idx_v1',
        'procrastinate_jobs_queueing_lock_lookup_idx_v1',
        'procrastinate_jobs_lock_idx_v1',
        'procrastinate_jobs_lock_order_idx_v2',
        'procrastinate_jobs_scheduled_lock_order_idx_v1',
        'procrastinate_jobs_worker_idx_v2',
        'procrastinate_jobs_limited_idx_v1',
        'procrastinate_jobs_deadline_idx_v1',
        'procrastinate_jobs_ready_idx_v1',
        'procrastinate_jobs_ready_queue_idx_v1',
        'procrastinate_jobs_locked_idx_v1',
        'procrastinate_jobs_locked_queue_idx_v1',
        'procrastinate_jobs_scheduled_idx_v1',
        'procrastinate_jobs_scheduled_queue_idx_v1'
    ],
    'procrastinate_jobs has its fetch, lock, worker and queue indexes'
);
select indexes_are(
    'procrastinate_events',
    array['procrastinate_events_pkey', 'procrastinate_events_job_id_idx_v1'],
    'events are indexed by job'
);
select indexes_are(
    'procrastinate_periodic_defers',
    array[
        'procrastinate_periodic_defers_pkey',
        'procrastinate_periodic_defers_unique',
        'procrastinate_periodic_defers_job_id_idx_v1'
    ],
    'periodic defers are unique per tick and indexed by job'
);
select indexes_are(
    'procrastinate_workers',
    array['procrastinate_workers_pkey', 'procrastinate_workers_last_heartbeat_idx_v1'],
    'workers are indexed by last heartbeat'
);
select is(
    (
        select array_agg(c.relname::text order by c.relname)
        from pg_index as i
        inner join pg_class as c on i.indexrelid = c.oid
        where i.indrelid = 'procrastinate_jobs'::regclass and i.indisunique
    ),
    array[
        'procrastinate_jobs_lock_idx_v1',
        'procrastinate_jobs_pkey',
        'procrastinate_jobs_queueing_lock_idx_v1'
    ],
    'the unique indexes of procrastinate_jobs are the key, the lock and the queueing lock'
);
select is(
    (
        select pg_get_expr(i.indpred, i.indrelid) from pg_index as i
        where i.indexrelid = 'procrastinate_jobs_lock_idx_v1'::regclass
    ),
    '((status = ''doing''::procrastinate_job_status) AND (lock IS NOT NULL))',
    'the lock index covers running jobs only'
);
select is(
    (
        select pg_get_expr(i.indpred, i.indrelid) from pg_index as i
        where i.indexrelid = 'procrastinate_jobs_queueing_lock_idx_v1'::regclass
    ),
    '((status = ''todo''::procrastinate_job_status) AND (attempts = 0) '
    || 'AND (queueing_lock IS NOT NULL))',
    'the unique queueing lock index covers fresh waiting jobs only (retries are checked at defer)'
);
select is_empty(
    $$select c.relname
      from pg_index as i
      inner join pg_class as c on i.indexrelid = c.oid
      inner join pg_am as am on c.relam = am.oid
      where i.indrelid = 'procrastinate_jobs'::regclass and am.amname <> 'btree'$$,
    'every index of procrastinate_jobs is a b-tree (a hash index on a key shared by '
    || 'many jobs makes each insert walk them all)'
);

select * from finish();
rollback;
