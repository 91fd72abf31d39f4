-- The checks of keys most jobs go without are skipped for a job that has
-- none of them (_procrastinate_job_problem, v_rare_keys): each of those keys,
-- alone and bad on an otherwise plain job, is still refused.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(13);

create function pg_temp.problem(p_job text) returns text
language plpgsql as $$
begin
    perform procrastinate_defer_jobs_v2(format('[{"task_name": "t", %s}]', p_job)::jsonb);
    return 'accepted';
exception when sqlstate 'PT001' then
    return regexp_replace(sqlerrm, '^job #1 of 1 is invalid: it ', '');
end;
$$;

select is(
    pg_temp.problem('"headers": {"traceparent": 1}'),
    'has headers that are not a JSON object of strings', 'headers'
);
select is(
    pg_temp.problem('"limit_key": ""'), 'has a limit_key that is not a non-empty string',
    'limit_key'
);
select is(
    pg_temp.problem('"timeout": 0'),
    'has a timeout that is not a number of seconds above 0, at most 1e9', 'timeout'
);
select is(
    pg_temp.problem('"scheduled_at": 12'), 'has a scheduled_at that is not a timestamp string',
    'scheduled_at'
);
select is(
    pg_temp.problem('"scheduled_in": -1'),
    'has a scheduled_in that is not a number of seconds from 0 to 1e10', 'scheduled_in'
);
select is(
    pg_temp.problem('"scheduled_at": "2030-01-01T00:00:00Z", "scheduled_in": 5'),
    'has both scheduled_at and scheduled_in', 'both schedules'
);
select is(
    pg_temp.problem('"store_result": "yes"'), 'has a store_result that is not a boolean',
    'store_result'
);
select is(
    pg_temp.problem('"after": [1.5]'), 'has an after that is not an array of job ids', 'after'
);
select jsonb_agg(g) as long_after from generate_series(1, 10001) as g \gset
select is(
    pg_temp.problem(format('"after": %s', :'long_after')),
    'has an after of more than 10000 jobs', 'a long after'
);
select is(
    pg_temp.problem('"after_policy": "never"'),
    'has an after_policy that is neither succeeded nor always', 'after_policy'
);
select is(
    pg_temp.problem('"after": [1], "scheduled_in": 5'),
    'has both after and a schedule: a job deferred after others runs once they ended',
    'after with a schedule'
);
select is(
    pg_temp.problem('"queue_name": "q", "priority": 3, "lock": "l"'), 'accepted',
    'a plain job passes'
);
select is((select count(*)::integer from procrastinate_jobs), 1, 'only the plain job was written');

select * from finish();
rollback;
