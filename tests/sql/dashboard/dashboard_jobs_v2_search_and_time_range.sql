-- procrastinate_dashboard_jobs_v2 adds to _v1 an args search (jsonb
-- containment), a creation-time range and a lower id bound;
-- procrastinate_dashboard_id_bounds_v1 finds the ids that bracket a time
-- range through the primary key (widened by 10 minutes). Bad input: PT001.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(10);

delete from procrastinate_jobs;
insert into procrastinate_jobs (queue_name, task_name, args, created_at)
select
    'sq' as queue_name,
    'st' as task_name,
    jsonb_build_object(
        'user', i % 3, 'tags', jsonb_build_array('t' || i), 'n', jsonb_build_object('k', i)
    ) as args,
    timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour' as created_at
from generate_series(1, 12) as i;
select min(id) as first from procrastinate_jobs \gset

select is(
    (select count(*) from procrastinate_dashboard_jobs_v2(p_args => '{"user": 1}'))::integer, 4,
    'args contain a key with its value'
);
select is(
    (select count(*) from procrastinate_dashboard_jobs_v2(p_args => '{"tags": ["t5"]}'))::integer,
    1, 'an array element is contained'
);
select is(
    (select count(*) from procrastinate_dashboard_jobs_v2(p_args => '{"n": {"k": 7}}'))::integer,
    1, 'nested objects are contained'
);
select is(
    (
        select count(*)
        from procrastinate_dashboard_jobs_v2(
            p_created_from => '2026-01-01 03:00:00+00', p_created_to => '2026-01-01 06:00:00+00'
        )
    )::integer,
    3, 'created from (included) to (excluded)'
);
select results_eq(
    format(
        'select id from procrastinate_dashboard_jobs_v2(p_after_id => %s, p_before_id => %s)',
        :first + 2, :first + 6
    ),
    format(
        'select id from procrastinate_jobs where id > %s and id < %s order by id desc',
        :first + 2, :first + 6
    ),
    'between the ids given, newest first'
);
select throws_ok(
    $$select * from procrastinate_dashboard_jobs_v2(p_args => '[1]')$$, 'PT001', null,
    'the args search is an object'
);

select results_eq(
    $$
    select first_id, last_id
    from procrastinate_dashboard_id_bounds_v1('2026-01-01 03:00:00+00', '2026-01-01 06:00:00+00')
    $$,
    format('values (%s::bigint, %s::bigint)', :first + 2, :first + 5),
    'the ids of the jobs created in the range'
);
select results_eq(
    $$
    select first_id, last_id
    from procrastinate_dashboard_id_bounds_v1('2026-01-01 03:05:00+00', '2026-01-01 03:55:00+00')
    $$,
    format('values (%s::bigint, %s::bigint)', :first + 2, :first + 3),
    'widened by 10 minutes on each side'
);
select results_eq(
    $$select first_id, last_id from procrastinate_dashboard_id_bounds_v1()$$,
    $$select min(id), max(id) from procrastinate_jobs$$,
    'no range: every id'
);
select is_empty(
    $$select * from procrastinate_dashboard_id_bounds_v1('2027-01-01 00:00:00+00')$$,
    'no job in range: no row'
);

select * from finish();
rollback;
