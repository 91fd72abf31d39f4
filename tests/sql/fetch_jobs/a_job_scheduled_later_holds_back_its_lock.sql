-- A waiting job keeps its place in its lock's order even when scheduled for
-- later (a retry, say): later jobs of that lock wait behind it. Jobs of a
-- paused queue hold their lock back the same way.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

select procrastinate_defer_job(
    'first', lock => 'L', scheduled_at => '2030-01-01 12:00:00+00'
) as first \gset
select procrastinate_defer_job('second', lock => 'L') as second \gset
select procrastinate_defer_job('unlocked') as unlocked \gset

select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(1, null, 10, p_now => '2030-01-01 11:00:00+00')$$,
    format('values (%s::bigint)', :unlocked),
    'the job behind a job scheduled for later does not start'
);
select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(1, null, 10, p_now => '2030-01-01 12:00:00+00')$$,
    format('values (%s::bigint)', :first),
    'once due, the earlier job starts first'
);

-- Rank decides, not age: a scheduled job deferred after the head ranks
-- before it with a higher priority, not with the same one.
select procrastinate_defer_job('head', lock => 'N', queue_name => 'n') as head \gset
select procrastinate_defer_job(
    'urgent_later', lock => 'N', queue_name => 'n', priority => 5,
    scheduled_at => '2030-01-01 13:00:00+00'
) as urgent_later \gset
select procrastinate_defer_job('head2', lock => 'P', queue_name => 'p') as head2 \gset
select procrastinate_defer_job(
    'plain_later', lock => 'P', queue_name => 'p', scheduled_at => '2030-01-01 13:00:00+00'
) as plain_later \gset
select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(1, null, 10, p_now => '2030-01-01 12:30:00+00')$$,
    format('values (%s::bigint)', :head2),
    'a scheduled job of higher priority holds its lock back; '
    || 'one of the same priority, deferred later, does not'
);
select results_eq(
    format(
        'select id, status from procrastinate_jobs where id in (%s, %s) order by id',
        :head, :urgent_later
    ),
    format(
        $$values (%s::bigint, 'todo'::procrastinate_job_status), (%s, 'todo')$$,
        :head, :urgent_later
    ),
    'the head waits for the job ranked before it, which is not due yet'
);

select procrastinate_defer_job('blocker', lock => 'M', queue_name => 'paused') as blocker \gset
select procrastinate_defer_job('blocked', lock => 'M', queue_name => 'open') as blocked \gset
insert into procrastinate_paused_queues (queue_name) values ('paused');

select is_empty(
    $$select id from procrastinate_fetch_jobs_v2(1, array['open'], 10)$$,
    'a waiting job of a paused queue holds back the later jobs of its lock'
);

delete from procrastinate_paused_queues;

select results_eq(
    $$select id from procrastinate_fetch_jobs_v2(1, null, 10)$$,
    format('values (%s::bigint)', :blocker),
    'once resumed, the earlier job of the lock starts'
);
select is(
    procrastinate_get_job_status(:blocked), 'todo'::procrastinate_job_status,
    'and the later one still waits for it'
);

select * from finish();
rollback;
