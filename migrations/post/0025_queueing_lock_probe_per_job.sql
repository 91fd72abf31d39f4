-- Defer's check of the queueing locks (0011) joined the batch to the waiting
-- jobs; with statistics that say the table is small (a backlog deferred
-- since the last analyze), the planner could walk the whole index of queueing
-- locks and probe the batch for each row: 200,000 rows read for a batch of 2,
-- seen once in CI's plan-shape test (issue 13). The probe is now a LATERAL
-- subquery per job of the batch, index scans only.
-- A post migration: the code does not need it (a saving), and a pre after the
-- post migrations 0020-0024 would block the procrastinate 3.x conversion.
set local lock_timeout = '10s';
set local statement_timeout = '30s';

-- A queueing lock of p_jobs that cannot be taken: used twice in the batch, or
-- held by a waiting job. Null when all are free. The message never names the
-- job that holds it (it may be another producer's).
create or replace function _procrastinate_queueing_lock_problem(p_jobs jsonb)
returns text
language plpgsql
stable
set search_path = pg_catalog, public, pg_temp
-- The check probes the index once per job of the batch; the planner, which
-- guesses 100 jobs per batch, would rather hash every waiting job with a
-- queueing lock (0.4 s with 100,000 of them). The probe is a LATERAL
-- subquery, so the batch drives the loop: with statistics that say the table
-- is small (a backlog deferred since the last analyze), a plain join could
-- walk the whole index and probe the batch for each row instead.
set enable_hashjoin = off
set enable_mergejoin = off
set enable_bitmapscan = off
set enable_seqscan = off
as $$
declare
    v_lock text;
begin
    select q.lock into v_lock
    from (
        select t.job ->> 'queueing_lock' as lock
        from jsonb_array_elements(p_jobs) as t (job)
        where t.job ->> 'queueing_lock' is not null
    ) as q
    group by q.lock
    having count(*) > 1
    limit 1;
    if v_lock is not null then
        return format('queueing lock "%s" is used by several jobs of this batch', v_lock);
    end if;

    select h.queueing_lock into v_lock
    from jsonb_array_elements(p_jobs) as t (job)
    cross join lateral (
        select j.queueing_lock
        from procrastinate_jobs as j
        where
            md5(j.queueing_lock) = md5(t.job ->> 'queueing_lock')
            and j.queueing_lock = t.job ->> 'queueing_lock'
            and j.status = 'todo'
        limit 1
    ) as h
    where t.job ->> 'queueing_lock' is not null
    limit 1;
    if v_lock is not null then
        return format('queueing lock "%s" is already taken by a waiting job', v_lock);
    end if;
    return null;
end;
$$;
