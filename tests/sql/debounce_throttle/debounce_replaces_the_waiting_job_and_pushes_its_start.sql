-- Debounce: a defer whose queueing lock is held by a waiting job of the same
-- task gives that job its args (and the options it names) and pushes its
-- start to now + the debounce; it returns that job's id. The push is a
-- 'scheduled' event. Once the job started, the next defer creates a job.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(19);

select d.id as first_id
from procrastinate_defer_jobs_v2(
    '[{"task_name": "reindex", "args": {"n": 1}, "queueing_lock": "reindex:1", "debounce": 10}]',
    '2030-01-01 00:00:00+00'
) as d \gset

select is(
    (select scheduled_at from procrastinate_jobs where id = :first_id),
    '2030-01-01 00:00:10+00'::timestamptz,
    'the first debounced defer starts debounce seconds from now'
);

select is(
    (
        select array_agg(d.id) from procrastinate_defer_jobs_v2(
            '[{"task_name": "reindex", "args": {"n": 2}, "queueing_lock": "reindex:1",
               "debounce": 10, "priority": 5, "headers": {"h": "v"}}]',
            '2030-01-01 00:00:04+00'
        ) as d
    ),
    array[:first_id]::bigint[],
    'a second debounced defer returns the id of the waiting job'
);
select results_eq(
    $$select args, scheduled_at, priority, headers from procrastinate_jobs
      where queueing_lock = 'reindex:1'$$,
    $$values (
        '{"n": 2}'::jsonb, '2030-01-01 00:00:14+00'::timestamptz, 5, '{"h": "v"}'::jsonb
    )$$,
    'one job waits, with the last args, options and start'
);
select is(
    (
        select array_agg(e.at order by e.id) from procrastinate_events as e
        where e.job_id = :first_id and e.type = 'scheduled'
    ),
    array['2030-01-01 00:00:10+00', '2030-01-01 00:00:14+00']::timestamptz[],
    'each debounced defer is a scheduled event of the job'
);
select is(
    (
        select count(*)::integer from procrastinate_events as e
        where e.job_id = :first_id and e.type = 'deferred'
    ),
    1,
    'the job was deferred once'
);

-- from psql: the debounce parameter of procrastinate_defer_job
select is(
    procrastinate_defer_job('reindex', '{"n": 3}', queueing_lock => 'reindex:1', debounce => 0),
    :first_id::bigint,
    'procrastinate_defer_job(debounce => ...) debounces too'
);
select is(
    (select args from procrastinate_jobs where id = :first_id),
    '{"n": 3}'::jsonb,
    'with its args'
);

-- a batch: the last job of a key wins, every one answers the same id
select array_agg(d.id) as batch_ids from procrastinate_defer_jobs_v2(
    '[{"task_name": "reindex", "args": {"n": 4}, "queueing_lock": "reindex:1", "debounce": 10},
      {"task_name": "reindex", "args": {"n": 5}, "queueing_lock": "reindex:2", "debounce": 10},
      {"task_name": "reindex", "args": {"n": 6}, "queueing_lock": "reindex:1", "debounce": 10}]',
    '2030-01-01 00:00:05+00'
) as d \gset
select is(
    :'batch_ids'::bigint[],
    array[
        :first_id,
        (select id from procrastinate_jobs where queueing_lock = 'reindex:2'),
        :first_id
    ]::bigint[],
    'in a batch, debounced jobs of one key return the id of the one waiting job'
);
select results_eq(
    $$select queueing_lock, args from procrastinate_jobs
      where task_name = 'reindex' order by queueing_lock$$,
    $$values ('reindex:1', '{"n": 6}'::jsonb), ('reindex:2', '{"n": 5}'::jsonb)$$,
    'one job per key, with the last args of the batch'
);

-- a waiting job of another task keeps its lock
select procrastinate_defer_job('other', '{"x": 1}', queueing_lock => 'other:1') as other_id \gset
select throws_ok(
    $$select procrastinate_defer_job(
        'reindex', '{"n": 7}', queueing_lock => 'other:1', debounce => 1
    )$$,
    'PT002',
    'queueing lock "other:1" is taken by a waiting job of another task or login, '
    || 'or held for its parents',
    'a debounce never replaces a waiting job of another task'
);
select is(
    (select args from procrastinate_jobs where id = :other_id),
    '{"x": 1}'::jsonb,
    'which is left unchanged'
);

-- nor a waiting job another login deferred (a producer never rewrites
-- another's job)
create role pt_debounce_other_login;
create temporary table t_outcome (code text);
grant all on t_outcome to public;
set local session authorization pt_debounce_other_login;
do $$
begin
    perform procrastinate_defer_job(
        'reindex', '{"n": 9}', queueing_lock => 'reindex:2', debounce => 1
    );
    insert into t_outcome values ('no error');
exception
    when others then
        insert into t_outcome values (sqlstate);
end;
$$;
reset session authorization;
select is(
    (select code from t_outcome), 'PT002',
    'a debounce never replaces a waiting job deferred by another login'
);
select is(
    (select args from procrastinate_jobs where queueing_lock = 'reindex:2'),
    '{"n": 5}'::jsonb,
    'which is left unchanged'
);

-- a plain defer still meets the lock
select throws_ok(
    $$select procrastinate_defer_job('reindex', queueing_lock => 'reindex:1')$$,
    'PT002', 'queueing lock "reindex:1" is already taken by a waiting job',
    'a plain defer of a debounced key is refused as before'
);

-- once started, the job is no longer waiting: a new one is created
select is(
    (
        select array_agg(f.id) from procrastinate_fetch_jobs_v2(
            1, array['default'], 10, null, false, '2030-01-01 00:01:00+00'
        ) as f where f.queueing_lock = 'reindex:1'
    ),
    array[:first_id]::bigint[],
    'the debounced job starts once its start has come'
);
select isnt(
    (
        select d.id from procrastinate_defer_jobs_v2(
            '[{"task_name": "reindex", "args": {"n": 8}, "queueing_lock": "reindex:1",
               "debounce": 10}]',
            '2030-01-01 00:01:01+00'
        ) as d
    ),
    :first_id::bigint,
    'a debounced defer after the start creates a new job'
);
select results_eq(
    $$select status::text, args from procrastinate_jobs
      where queueing_lock = 'reindex:1' order by id$$,
    $$values ('doing', '{"n": 6}'::jsonb), ('todo', '{"n": 8}'::jsonb)$$,
    'the running job keeps its args, the new one waits'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name = 'reindex'),
    3,
    'three jobs in all'
);

-- a timeout given with a debounced defer is the job's from then on
select procrastinate_defer_job(
    'resize', queueing_lock => 'resize:1', debounce => 1, timeout => 5
) as resize_id \gset
select procrastinate_defer_job(
    'resize', queueing_lock => 'resize:1', debounce => 1, timeout => 9
) as resize_again \gset
select results_eq(
    format('select id, timeout from procrastinate_jobs where queueing_lock = %L', 'resize:1'),
    format('values (%s::bigint, 9::double precision)', :resize_id),
    'a debounced defer with a timeout replaces the waiting job''s timeout'
);

select * from finish();
rollback;
