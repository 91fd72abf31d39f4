-- Fetching: a worker claims up to p_limit jobs in one call.
-- Lock arbitration lives here: a job with a lock is claimable only when no
-- job sharing its lock is running and none waiting comes before it
-- (higher priority, then lower id). Waiting includes jobs scheduled for
-- later, such as a retry: jobs sharing a lock keep their order across retries.

-- Claims up to p_limit jobs for p_worker_id from p_queues (null: all queues),
-- highest priority first, then oldest, under the claim token p_claim_token.
-- A call retried because its answer was lost (p_resume true, same token)
-- first gets back the jobs the lost call claimed, and claims new ones only
-- up to p_limit with them. Called by the Python worker.
create function procrastinate_fetch_jobs_v2(
    p_worker_id bigint,
    p_queues text[],
    p_limit integer,
    p_claim_token uuid default null,
    p_resume boolean default false,
    p_now timestamptz default null
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
-- Lets a worker role claim jobs without any right on the tables.
security definer
set search_path = pg_catalog, public, pg_temp
-- A queue table's statistics are often stale (it fills and drains faster than
-- autoanalyze runs); a bitmap scan then reads every waiting job to sort them.
-- Walking procrastinate_jobs_fetch_idx_v1 in order stops after p_limit rows.
set jit = off
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_now timestamptz := _procrastinate_now(p_now);
    v_paused text[];
    v_resumed integer := 0;
    -- the keys of procrastinate_jobs_queue_idx_v1
    v_queue_keys text[] := array(select md5(q.name) from unnest(p_queues) as q (name));
begin
    if p_limit is null or p_limit < 1 then
        raise exception 'p_limit must be a positive number of jobs, got %', p_limit
            using errcode = 'PT001';
    end if;
    perform _procrastinate_check_worker(p_worker_id);

    if p_resume and p_claim_token is not null then
        return query
        select
            j.id, j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock,
            j.args, j.status, j.scheduled_at, j.attempts, j.abort_requested,
            j.worker_id
        from procrastinate_jobs as j
        where
            j.worker_id = p_worker_id
            and j.status = 'doing'
            and j.claim_token = p_claim_token
        order by j.priority desc, j.id asc;
        get diagnostics v_resumed = row_count;
        if v_resumed >= p_limit then
            return;
        end if;
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
            and (j.scheduled_at is null or j.scheduled_at <= v_now)
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
        limit p_limit - v_resumed
        for update of j skip locked
    ),

    claimed as (
        update procrastinate_jobs as j
        set
            status = 'doing',
            worker_id = p_worker_id,
            started_at = v_now,
            claim_token = p_claim_token
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

-- User-facing fetch, for workers written in other languages: claims up to
-- max_jobs jobs. Report each one with procrastinate_finish_job.
create function procrastinate_fetch_jobs(
    queues text[] default null,
    max_jobs integer default 1,
    worker_id bigint default null
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
language sql
set search_path = pg_catalog, public, pg_temp
as $$
    select f.* from procrastinate_fetch_jobs_v2(worker_id, queues, max_jobs) as f;
$$;

comment on function procrastinate_fetch_jobs(text[], integer, bigint) is
'Claim up to max_jobs waiting jobs (status todo -> doing) from queues (null: all queues), for a
worker written in any language. Jobs come highest priority first, then oldest; jobs scheduled
for later, jobs of paused queues and jobs whose lock is busy are skipped. Concurrent callers
never get the same job (FOR UPDATE SKIP LOCKED). Report the end of each job with
procrastinate_finish_job(job_id, status, ..., worker_id => the same worker_id,
attempt => the job''s attempts as fetched).';
