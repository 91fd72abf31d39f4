-- migration: no-transaction
-- Converting a procrastinate 3.x database, post phase, step 9: started_at and
-- finished_at of the jobs that 3.x workers ran (before the conversion or
-- during its pre phase), from their last 'started' and last final event.
-- Batches of 5000 jobs, each committed on its own; safe to re-run.
do $$
declare
    v_from bigint := 0;
    v_last bigint;
begin
    select max(j.id) into v_last from procrastinate_jobs as j;
    while v_from <= coalesce(v_last, -1) loop
        update procrastinate_jobs as j
        set
            started_at = coalesce(j.started_at, e.last_started),
            finished_at = coalesce(
                j.finished_at,
                case
                    when j.status in ('succeeded', 'failed', 'cancelled', 'aborted')
                        then e.last_finished
                end
            )
        from (
            select
                ev.job_id,
                max(ev.at) filter (where ev.type = 'started') as last_started,
                max(ev.at) filter (
                    where ev.type in ('succeeded', 'failed', 'cancelled', 'aborted')
                ) as last_finished
            from procrastinate_events as ev
            where ev.job_id >= v_from and ev.job_id < v_from + 5000
            group by ev.job_id
        ) as e
        where
            j.id = e.job_id
            and (
                (j.started_at is null and e.last_started is not null)
                or (
                    j.finished_at is null
                    and e.last_finished is not null
                    and j.status in ('succeeded', 'failed', 'cancelled', 'aborted')
                )
            );
        commit;
        v_from := v_from + 5000;
    end loop;
end;
$$;
