-- migration: no-transaction
-- Converting a procrastinate 3.x database, pre phase, step 6: created_at of
-- the jobs that existed before step 1, from their 'deferred' event. Batches
-- of 5000 jobs, each committed on its own, so that no job stays locked for
-- long (workers skip locked jobs). Safe to re-run. Jobs without such an event
-- (3.x records none for a job inserted in another status) keep the time of
-- step 1.
do $$
declare
    v_from bigint := 0;
    v_last bigint;
begin
    -- Jobs inserted since step 1 got created_at = now() already.
    select max(j.id) into v_last from procrastinate_jobs as j;
    while v_from <= coalesce(v_last, -1) loop
        update procrastinate_jobs as j
        set created_at = e.first_at
        from (
            select ev.job_id, min(ev.at) as first_at
            from procrastinate_events as ev
            where
                ev.type = 'deferred'
                and ev.job_id >= v_from
                and ev.job_id < v_from + 5000
                and ev.at is not null
            group by ev.job_id
        ) as e
        where j.id = e.job_id and j.created_at is distinct from e.first_at;
        commit;
        v_from := v_from + 5000;
    end loop;
end;
$$;
