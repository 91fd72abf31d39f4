-- migration: no-transaction
-- The index of a worker's queues: a b-tree keyed by md5(queue_name) in fetch
-- order replaces the hash index on queue_name. All the jobs of a queue share
-- one key, and a hash index walks the whole bucket of a key on every insert:
-- each defer got slower with every job waiting in its queue (a batch of
-- 1,000 took 16 ms with an empty queue and 43 ms with 150,000 waiting; now
-- 13 ms either way). procrastinate_fetch_jobs_v1 now names the new key.
-- Built without blocking writes (CONCURRENTLY, hence no transaction: each
-- statement commits on its own). If this step fails half-way, run it again:
-- an index left invalid by the failure is dropped and rebuilt. Old and new
-- workers call the same fetch function, replaced in place (same signature).
-- squawk-ignore-file require-lock-timeout, require-statement-timeout
-- Allowed (squawk), why: CONCURRENTLY waits for running transactions by
-- design and blocks neither reads nor writes; a build may take long. The
-- function replace takes no lock on the queue's tables.

drop index concurrently if exists procrastinate_jobs_queue_idx_v1;
create index concurrently if not exists procrastinate_jobs_queue_idx_v1
on procrastinate_jobs (md5(queue_name), priority desc, id asc)
where status = 'todo';

-- Claims up to p_limit jobs for p_worker_id from p_queues (null: all queues),
-- highest priority first, then oldest. Called by the Python worker.
create or replace function procrastinate_fetch_jobs_v1(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_now timestamptz default now()
)
returns table (
    id bigint,
    queue_name text,
    task_name text,
    priority integer,
    lock text,
    queueing_lock text,
    args jsonb,
    status procrastinate_job_status,
    scheduled_at timestamptz,
    attempts integer,
    abort_requested boolean,
    worker_id bigint
)
language plpgsql
set search_path = pg_catalog, public
-- A queue table's statistics are often stale (it fills and drains faster than
-- autoanalyze runs); a bitmap scan then reads every waiting job to sort them.
-- Walking procrastinate_jobs_fetch_idx_v1 in order stops after p_limit rows.
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_paused text[];
    -- the keys of procrastinate_jobs_queue_idx_v1
    v_queue_keys text[] := array(select md5(q.name) from unnest(p_queues) as q (name));
begin
    if p_limit is null or p_limit < 1 then
        raise exception 'p_limit must be a positive number of jobs, got %', p_limit
            using errcode = 'PT001';
    end if;

    select coalesce(array_agg(p.queue_name), '{}') into v_paused
    from procrastinate_paused_queues as p;

    return query
    with candidate as (
        select j.id
        from procrastinate_jobs as j
        where
            j.status = 'todo'
            and (
                p_queues is null
                or (md5(j.queue_name) = any(v_queue_keys) and j.queue_name = any(p_queues))
            )
            and j.queue_name <> all(v_paused)
            and (j.scheduled_at is null or j.scheduled_at <= p_now)
            and (
                j.lock is null
                or not exists (
                    select 1
                    from procrastinate_jobs as other
                    where
                        md5(other.lock) = md5(j.lock)
                        and other.lock = j.lock
                        and other.id <> j.id
                        and other.status in ('todo', 'doing')
                        and (
                            other.status = 'doing'
                            or other.priority > j.priority
                            or (other.priority = j.priority and other.id < j.id)
                        )
                )
            )
        order by j.priority desc, j.id asc
        limit p_limit
        for update of j skip locked
    ),

    claimed as (
        update procrastinate_jobs as j
        set
            status = 'doing',
            worker_id = p_worker_id,
            started_at = p_now
        from candidate
        where j.id = candidate.id
        returning
            j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
            j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
            j.worker_id
    )

    select c.*
    from claimed as c
    order by c.priority desc, c.id asc;
end;
$$;

drop index concurrently if exists procrastinate_jobs_queue_name_idx_v1;
