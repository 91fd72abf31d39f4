-- procrastinate_overdue_jobs lists the running jobs past their deadline
-- (their claim plus their timeout), with when the rescue takes them back;
-- not those within their time, nor those without a timeout.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_defer_job('late', queue_name => 'late', timeout => 60) as late \gset
select procrastinate_defer_job('on_time', queue_name => 'on_time', timeout => 60) as on_time \gset
select procrastinate_defer_job('untimed', queue_name => 'untimed') as untimed \gset
select count(*) as c1 from procrastinate_fetch_jobs_v5(
    1, array['late', 'untimed'], 2, p_now => now() - interval '1 hour'
) \gset
select count(*) as c2 from procrastinate_fetch_jobs_v5(1, array['on_time'], 1) \gset

select results_eq(
    'select id, timeout from procrastinate_overdue_jobs',
    format($$values (%s::bigint, 60::double precision)$$, :late),
    'only the job past its deadline is listed'
);
select results_eq(
    format(
        'select deadline, rescued_after from procrastinate_overdue_jobs where id = %s', :late
    ),
    $$values (now() - interval '59 minutes', now() - interval '59 minutes' + interval '10 s')$$,
    'with its deadline and the time the rescue takes it back'
);
select ok(
    (select overdue_by > interval '58 minutes' from procrastinate_overdue_jobs where id = :late),
    'and how late it is'
);

select * from finish();
rollback;
