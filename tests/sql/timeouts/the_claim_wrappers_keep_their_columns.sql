-- procrastinate_fetch_jobs_v4, v3 and v2 are wrappers of v5 returning their
-- own columns (workers of previous releases), and set the deadline as v5.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_defer_job('a', timeout => 2.5) as a \gset
select procrastinate_defer_job('b', timeout => 2.5) as b \gset
select procrastinate_defer_job('c', timeout => 2.5) as c \gset

select results_eq(
    $$select id, headers
      from procrastinate_fetch_jobs_v4(1, null, 1, p_now => '2030-01-01 00:00:00+00')$$,
    format($$values (%s::bigint, null::jsonb)$$, :a),
    'v4 returns its own columns'
);
select lives_ok(
    $$select id, store_result, parents
      from procrastinate_fetch_jobs_v3(1, null, 1, p_now => '2030-01-01 00:00:00+00')$$,
    'v3 still answers'
);
select is(
    (
        select count(*)::integer
        from procrastinate_fetch_jobs_v2(1, null, 1, p_now => '2030-01-01 00:00:00+00')
    ),
    1,
    'v2 still answers'
);
select results_eq(
    format('select deadline from procrastinate_jobs where id in (%s, %s, %s)', :a, :b, :c),
    $$values ('2030-01-01 00:00:02.5+00'::timestamptz), ('2030-01-01 00:00:02.5+00'::timestamptz),
             ('2030-01-01 00:00:02.5+00'::timestamptz)$$,
    'every claim sets the deadline'
);

select * from finish();
rollback;
