-- A worker compares the jobs it holds with those the database gives it. A
-- job the database gives it but the worker forgot (its report lost in a
-- failover) is taken back as a rescue would take it; a job the worker holds
-- that the database does not give it is pointed out. Nothing else changes;
-- another login's worker id, a null list, are refused.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select procrastinate_register_worker_v2('w', null, 4, 'h', 1) as w \gset
select procrastinate_register_worker_v2('other', null, 4, 'h', 2) as other \gset
select procrastinate_defer_job('kept', queue_name => 'q') as kept \gset
select procrastinate_defer_job('forgotten', queue_name => 'q') as forgotten \gset
select procrastinate_defer_job('theirs', queue_name => 'o') as theirs \gset
select procrastinate_defer_job('waiting', queue_name => 'z') as waiting \gset
select count(*) as n from procrastinate_fetch_jobs_v2(:w, array['q'], 2) \gset
select count(*) as n from procrastinate_fetch_jobs_v2(:other, array['o'], 1) \gset

select results_eq(
    format(
        $$select job_id, worker_knew, status
          from procrastinate_reconcile_held_jobs_v1(%s, array[%s, %s, %s, -1])$$,
        :w, :kept, :theirs, :waiting
    ),
    format(
        $$values (%s::bigint, false, 'todo'::procrastinate_job_status),
                 (-1::bigint, true, null::procrastinate_job_status),
                 (%s::bigint, true, 'doing'), (%s::bigint, true, 'todo')$$,
        :forgotten, :theirs, :waiting
    ),
    'the forgotten job is taken back; held jobs not the worker''s are pointed out'
);
select results_eq(
    format(
        $$select status, attempts, rescue_count, worker_id, last_error_types
          from procrastinate_jobs where id = %s$$,
        :forgotten
    ),
    $$values ('todo'::procrastinate_job_status, 1, 1, null::bigint, array['OutcomeLost'])$$,
    'the forgotten job waits again, its lost run counted as an attempt and a rescue'
);
select is(
    (select last_error from procrastinate_jobs where id = :forgotten),
    format(
        'worker %s no longer held this job: its outcome was lost, as in a failover '
        '(rescue 1 of at most 3)', :w
    ),
    'last_error says which worker lost it, and why'
);
select results_eq(
    format(
        $$select id, status, worker_id from procrastinate_jobs where id in (%s, %s, %s)
          order by id$$,
        :kept, :theirs, :waiting
    ),
    format(
        $$values (%s::bigint, 'doing'::procrastinate_job_status, %s::bigint),
                 (%s, 'doing', %s), (%s, 'todo', null)$$,
        :kept, :w, :theirs, :other, :waiting
    ),
    'the other jobs are left as they were'
);
select is_empty(
    format('select * from procrastinate_reconcile_held_jobs_v1(%s, array[%s])', :w, :kept),
    'once they agree, nothing differs'
);
select is(
    (
        select array_agg(e.type::text order by e.id)
        from procrastinate_events as e
        where e.job_id = :forgotten
    ),
    array['deferred', 'started', 'deferred_for_retry'],
    'the events tell the run was lost and the job waits again'
);
select throws_ok(
    format('select * from procrastinate_reconcile_held_jobs_v1(%s, null)', :w),
    '22004',
    'a worker id and the list of the jobs it holds are needed (an empty array: none)',
    'a null list is refused (an empty array says the worker holds nothing)'
);

\ir ../../sql_helpers/untrusted_login.sql
select is(
    pg_temp.sqlstate_as_untrusted(
        format('select * from procrastinate_reconcile_held_jobs_v1(%s, array[]::bigint[])', :w)
    ),
    '42501',
    'a login cannot reconcile the worker another login registered'
);
select results_eq(
    format('select status from procrastinate_jobs where id = %s', :kept),
    $$values ('doing'::procrastinate_job_status)$$,
    'and the refused call changed nothing'
);

select * from finish();
rollback;
