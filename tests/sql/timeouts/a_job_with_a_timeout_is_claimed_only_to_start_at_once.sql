-- A claim of more jobs than the worker starts at once (p_slots: the rest
-- waits in its buffer) takes a job with a timeout only among the first
-- p_slots jobs, so that its deadline never runs while it waits; jobs
-- without a timeout fill the buffer as before, and the job left out is
-- claimed by the next claim that starts it.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_register_worker_v2('w', null, 1, 'h', 1) as worker \gset
select procrastinate_defer_job('first', priority => 3) as first \gset
select procrastinate_defer_job('timed', priority => 2, timeout => 30) as timed \gset
select procrastinate_defer_job('plain', priority => 1) as plain \gset

select results_eq(
    format(
        'select id from procrastinate_fetch_jobs_v5(%s, null, 3, p_slots => 1) order by id',
        :worker
    ),
    format('values (%s::bigint), (%s::bigint)', :first, :plain),
    'one slot free, three jobs claimed at most: the job with a timeout, second, is left'
);
select results_eq(
    format('select status::text, deadline from procrastinate_jobs where id = %s', :timed),
    $$values ('todo', null::timestamptz)$$,
    'it still waits, no deadline running'
);
select results_eq(
    format(
        'select id, timeout from procrastinate_fetch_jobs_v5(%s, null, 3, p_slots => 1)',
        :worker
    ),
    format('values (%s::bigint, 30::double precision)', :timed),
    'the next claim that starts it at once takes it'
);

select procrastinate_defer_job('timed_too', timeout => 30) as timed_too \gset
select results_eq(
    format('select id from procrastinate_fetch_jobs_v5(%s, null, 3)', :worker),
    format('values (%s::bigint)', :timed_too),
    'without p_slots every job claimed starts at once: a job with a timeout too'
);

select * from finish();
rollback;
