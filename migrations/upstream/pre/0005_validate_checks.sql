-- Converting a procrastinate 3.x database, pre phase, step 5: the checks added
-- in step 1 are validated on existing jobs (a scan under a SHARE UPDATE
-- EXCLUSIVE lock: reads and writes go on). Jobs that 3.x accepted but that
-- break one (an empty task or queue name, args that are not a JSON object)
-- stop the conversion here, named in the error: fix or delete them, then run
-- `procrastinate schema --migrate --phase pre` again.
-- squawk-ignore-file require-statement-timeout
-- Allowed (squawk), why: require-statement-timeout: validation scans the jobs
-- table and may take long, without blocking reads or writes.
set local lock_timeout = '10s';

do $$
declare
    v_ids text;
begin
    select string_agg(j.id::text, ', ' order by j.id) into v_ids
    from (
        select b.id
        from procrastinate_jobs as b
        where
            b.task_name = ''
            or b.queue_name = ''
            or jsonb_typeof(b.args) <> 'object'
        order by b.id
        limit 20
    ) as j;
    if v_ids is not null then
        raise exception 'jobs with an empty task_name or queue_name, or args that are not a JSON object, cannot be converted (job ids, at most 20 shown: %)', v_ids
            using hint = 'Fix or delete these jobs, then run procrastinate schema --migrate --phase pre again.';
    end if;
end;
$$;

alter table procrastinate_jobs validate constraint procrastinate_jobs_task_name_not_empty;
alter table procrastinate_jobs validate constraint procrastinate_jobs_queue_name_not_empty;
alter table procrastinate_jobs validate constraint procrastinate_jobs_args_is_object;
alter table procrastinate_jobs validate constraint procrastinate_jobs_max_attempts_not_negative;
alter table procrastinate_jobs validate constraint procrastinate_jobs_retry_waits_not_negative;
