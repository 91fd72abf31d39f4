-- Throttle: at most one job per queueing lock per period, counted from the
-- defer that created it. A defer within the period creates nothing and
-- returns the id of the period's job; the period outlives the job (deleted
-- here); retention forgets periods that are over.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(15);

create function pg_temp.throttled(p_at text, p_n integer) returns bigint
language sql
as $$
    select d.id from procrastinate_defer_jobs_v2(
        jsonb_build_array(jsonb_build_object(
            'task_name', 'digest', 'args', jsonb_build_object('n', p_n),
            'queueing_lock', 'digest:1', 'throttle', 60
        )),
        p_at::timestamptz
    ) as d;
$$;

select pg_temp.throttled('2030-01-01 00:00:00+00', 1) as first_id \gset
select is(
    pg_temp.throttled('2030-01-01 00:00:30+00', 2),
    :first_id::bigint,
    'a defer within the period returns the id of the period''s job'
);
select results_eq(
    $$select args, status::text from procrastinate_jobs where task_name = 'digest'$$,
    $$values ('{"n": 1}'::jsonb, 'todo')$$,
    'and creates nothing: the first job keeps its args'
);

-- the job runs and is deleted (as retention would)
select ok(
    procrastinate_cancel_job_v1(:first_id, false, true, '2030-01-01 00:00:31+00'),
    'the job is deleted'
);
select is(
    pg_temp.throttled('2030-01-01 00:00:59+00', 3),
    :first_id::bigint,
    'the period outlives its job: still dropped'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name = 'digest'),
    0,
    'nothing was created'
);

select pg_temp.throttled('2030-01-01 00:01:00+00', 4) as second_id \gset
select isnt(:second_id::bigint, :first_id::bigint, 'at the end of the period, a new job');
select results_eq(
    $$select id, args from procrastinate_jobs where task_name = 'digest'$$,
    format('values (%s::bigint, %L::jsonb)', :second_id, '{"n": 4}'),
    'which has its own args'
);

-- a new period while the last job still waits: that job stands for it
select is(
    pg_temp.throttled('2030-01-01 00:02:30+00', 5),
    :second_id::bigint,
    'after the period, a job still waiting with the lock is returned, no second one waits'
);
select is(
    pg_temp.throttled('2030-01-01 00:02:40+00', 6),
    :second_id::bigint,
    'and it opened a new period'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name = 'digest'),
    1,
    'one job in all'
);

-- a throttle never stands for a waiting job of another task
select procrastinate_defer_job('other', queueing_lock => 'digest:2') as other_id \gset
select throws_ok(
    $$select procrastinate_defer_job('digest', queueing_lock => 'digest:2', throttle => 60)$$,
    'PT002',
    'queueing lock "digest:2" is taken by a waiting job of another task or login, '
    || 'or held for its parents',
    'a throttled defer meeting a waiting job of another task is refused'
);
select is(
    (select count(*)::integer from procrastinate_throttles where queueing_lock = 'digest:2'),
    0,
    'and opens no period'
);

-- from psql
select is(
    procrastinate_defer_job('digest', queueing_lock => 'digest:1', throttle => 60),
    :second_id::bigint,
    'procrastinate_defer_job(throttle => ...) throttles too'
);

-- retention forgets the periods that are over, keeps the others
select procrastinate_remove_old_jobs_v1(1, p_now => '2030-01-01 00:03:00+00');
select is(
    (select count(*)::integer from procrastinate_throttles where queueing_lock = 'digest:1'),
    1,
    'retention keeps a period that is not over'
);
select procrastinate_remove_old_jobs_v1(1, p_now => '2030-01-01 00:03:30+00');
select is(
    (select count(*)::integer from procrastinate_throttles where queueing_lock = 'digest:1'),
    0,
    'retention deletes the periods that are over'
);

select * from finish();
rollback;
