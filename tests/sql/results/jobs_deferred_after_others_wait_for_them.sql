-- A job deferred after others waits (scheduled far ahead: no claim sees
-- it) until they all succeeded, then is claimable; one that ends otherwise
-- cancels it at once (after_policy succeeded), and the cancel cascades to
-- the jobs deferred after it; after_policy always runs it whatever they
-- became. Parents that do not exist (a job of the same batch, the job
-- itself: no cycle can form) are refused with PT001, and nothing is written.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(16);

select procrastinate_defer_job('p1') as p1 \gset
select procrastinate_defer_job('p2') as p2 \gset
select id as fan_in from procrastinate_defer_jobs_v2(
    format('[{"task_name": "fan_in", "after": [%s, %s]}]', :p1, :p2)::jsonb
) \gset

select is(
    (select scheduled_at from procrastinate_jobs where id = :fan_in),
    _procrastinate_held_until(),
    'the dependent waits, scheduled far ahead'
);
select results_eq(
    'select id from procrastinate_fetch_jobs_v3(7, null, 10) order by id',
    format('values (%s::bigint), (%s)', :p1, :p2),
    'the claim takes the parents, never the dependent'
);
select is(
    (select count(*)::integer from procrastinate_finish_jobs_v1(
        7, format('[{"id": %s, "status": "succeeded"}]', :p1)::jsonb
    )),
    1,
    'one parent succeeds'
);
select is(
    (select scheduled_at from procrastinate_jobs where id = :fan_in),
    _procrastinate_held_until(),
    'the dependent still waits for the other'
);
select is(
    (select count(*)::integer from procrastinate_finish_jobs_v1(
        7, format('[{"id": %s, "status": "succeeded"}]', :p2)::jsonb, 'always'
    )),
    1,
    'the other succeeds too, reported with delete_jobs always'
);
select ok(
    exists (select 1 from procrastinate_jobs where id = :p2),
    'a parent is not deleted at its end: its dependents are released by it'
);
select results_eq(
    'select id, parents from procrastinate_fetch_jobs_v3(7, null, 10)',
    format($$values (%s::bigint, '{%s,%s}'::bigint[])$$, :fan_in, :p1, :p2),
    'released, the dependent is claimed, with its parents'
);

-- a failure cancels, and the cancel cascades; always runs anyway
select procrastinate_defer_job('q') as q \gset
select procrastinate_defer_job('after_q', after => array[:q]::bigint[]) as c1 \gset
select procrastinate_defer_job('after_c1', after => array[:c1]::bigint[]) as c2 \gset
select procrastinate_defer_job(
    'always', after => array[:q]::bigint[], after_policy => 'always'
) as c3 \gset
select is((select count(*)::integer from procrastinate_fetch_jobs_v3(7, null, 10)), 1, 'q runs');
select is(
    (select f.status from procrastinate_finish_jobs_v1(
        7, format('[{"id": %s, "status": "failed", "retry": false}]', :q)::jsonb
    ) as f),
    'failed'::procrastinate_job_status,
    'q fails for good'
);
select results_eq(
    format(
        'select status, last_error from procrastinate_jobs where id in (%s, %s) order by id',
        :c1, :c2
    ),
    format(
        $$values ('cancelled'::procrastinate_job_status,
                  'cancelled: job %s, which it was deferred after, ended failed'),
                 ('cancelled', 'cancelled: job %s, which it was deferred after, ended cancelled')$$,
        :q, :c1
    ),
    'its dependent is cancelled, saying why, and so is the dependent of that one'
);
select results_eq(
    format('select status, scheduled_at from procrastinate_jobs where id = %s', :c3),
    $$values ('todo'::procrastinate_job_status, null::timestamptz)$$,
    'after_policy always: released all the same'
);
select is(
    (select count(*)::integer from procrastinate_job_dependencies),
    0,
    'no dependency is left behind'
);

-- deferred after a parent that ended already: decided at once
select procrastinate_defer_job('late', after => array[:q]::bigint[]) as late \gset
select is(
    (select status from procrastinate_jobs where id = :late), 'cancelled'::procrastinate_job_status,
    'after a parent that failed already: cancelled at once'
);

-- refused: unknown parents, cycles, malformed
select currval('procrastinate_jobs_id_seq') as last_id \gset
select throws_ok(
    format(
        $$select procrastinate_defer_jobs_v2(
            '[{"task_name": "a"}, {"task_name": "self", "after": [%s]}]'
        )$$,
        :last_id + 2
    ),
    'PT001', format('after names job %s, which does not exist', :last_id + 2),
    'a job cannot wait for itself (nor for a job of its own batch): no cycle'
);
select throws_ok(
    $$select procrastinate_defer_jobs_v2('[{"task_name": "x", "after": ["1"]}]')$$,
    'PT001', 'job #1 of 1 is invalid: it has an after that is not an array of job ids',
    'after must hold job ids'
);
select is(
    (select count(*)::integer from procrastinate_jobs where task_name in ('a', 'self', 'x')),
    0,
    'a refused defer wrote nothing'
);

select * from finish();
rollback;
