-- max_runs, for callers from other languages, counts every run (River, Oban,
-- graphile-worker): 3 runs at most three times, 1 once whatever policy the
-- worker knows for the task, 0 without limit. A run lost with its worker
-- counts. max_runs and max_attempts together, or a bad max_runs, are
-- refused and nothing is written.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(11);

\ir ../../sql_helpers/run_and_fail.sql

select procrastinate_defer_job('three', queue_name => 'three', max_runs => 3) as three \gset
select procrastinate_defer_job('once', queue_name => 'once', max_runs => 1) as once \gset
select id as unlimited
from procrastinate_defer_jobs_v2('[{"task_name": "unlimited", "queue_name": "unlimited",
                                   "max_runs": 0}]') \gset

select is(
    array[
        pg_temp.run_and_fail('three'), pg_temp.run_and_fail('three'),
        pg_temp.run_and_fail('three')
    ],
    array['todo', 'todo', 'failed']::procrastinate_job_status[],
    'max_runs 3: the first two failures are retried, the third is final'
);
select results_eq(
    format('select attempts, max_attempts from procrastinate_jobs where id = %s', :three),
    $$values (3, 2)$$,
    'three runs, stored as procrastinate''s two retries'
);
select is(
    pg_temp.run_and_fail('once', p_policy => '{"max_attempts": 5}'),
    'failed'::procrastinate_job_status,
    'max_runs 1: the first failure is final, whatever policy the worker sends for the task'
);
select is(
    pg_temp.run_and_fail('unlimited'), 'todo'::procrastinate_job_status,
    'max_runs 0: retried without limit'
);

-- A run of a max_runs 1 job lost with its worker is its one run.
select procrastinate_register_worker_v2(
    'dies', null, 1, 'h', 1, p_stalled_after => 60, p_now => '2030-01-01 00:00:00+00'
) as dies \gset
select procrastinate_defer_job('lost', queue_name => 'lost', max_runs => 1) as lost \gset
select procrastinate_defer_job(
    'lost_twice', queue_name => 'lost', max_runs => 2
) as lost_twice \gset
select count(*) as n
from procrastinate_fetch_jobs_v2(:dies, array['lost'], 2, p_now => '2030-01-01 00:00:00+00') \gset
select results_eq(
    $$select job_id, status
      from procrastinate_rescue_stalled_jobs_v2(null, p_now => '2030-01-01 00:10:00+00')
      order by job_id$$,
    format(
        $$values (%s::bigint, 'failed'::procrastinate_job_status), (%s, 'todo')$$,
        :lost, :lost_twice
    ),
    'a max_runs 1 job whose run was lost ends failed; with max_runs 2 it runs again'
);

select throws_ok(
    $$select procrastinate_defer_job('both', max_attempts => 2, max_runs => 3)$$,
    'PT001',
    'job #1 of 1 is invalid: it has both max_attempts and max_runs '
    || '(retries after the first run, or runs in all: give one)',
    'max_attempts and max_runs together are refused'
);
select throws_ok(
    $$select procrastinate_defer_job('negative', max_runs => -1)$$,
    'PT001',
    'job #1 of 1 is invalid: it has a negative max_runs (-1); use 0 for no limit',
    'a negative max_runs is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs('[{"task_name": "x", "max_runs": "3"}]')$$,
    'PT001',
    'job #1 of 1 is invalid: it has a max_runs that is not an integer',
    'a max_runs that is not an integer is refused'
);
select throws_ok(
    $$select * from procrastinate_defer_jobs('[{"task_name": "x", "max_runs": 2.5}]')$$,
    'PT001',
    'job #1 of 1 is invalid: it has a max_runs that is not an integer',
    'a fractional max_runs is refused'
);
select is_empty(
    $$select 1 from procrastinate_jobs where task_name in ('both', 'negative', 'x')$$,
    'and nothing was written'
);
select results_eq(
    $$select max_attempts from procrastinate_jobs where task_name = 'unlimited'$$,
    $$values (0)$$,
    'max_runs 0 is stored as no limit'
);

select * from finish();
rollback;
