-- procrastinate_why_waiting: each reason a queue's jobs do not run, named
-- with the job (and worker) behind it.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select results_eq(
    $$select reason, jobs from procrastinate_why_waiting('nothing_here')$$,
    $$values ('empty'::text, 0::bigint)$$,
    'an empty queue says so'
);

-- No worker at all: the job could run, nobody takes it.
select procrastinate_defer_job('t', queue_name => 'lonely') as lonely \gset
select results_eq(
    $$select reason, jobs, job_id from procrastinate_why_waiting('lonely')$$,
    format(
        $$values ('no_live_worker'::text, 1::bigint, null::bigint), ('runnable', 1, %s)$$,
        :lonely
    ),
    'no live worker: the runnable job waits for one'
);

-- A dead worker registered for the queue is no server (its lease, 1 ms, ran
-- out: a lease is never counted from before the server started).
select procrastinate_register_worker_v2(
    'gone', array['lonely'], 1, 'h0', 1, p_stalled_after => 0.001,
    p_now => now() - interval '1 day'
) as gone \gset
select matches(
    (select detail from procrastinate_why_waiting('lonely') where reason = 'no_live_worker'),
    '1 registered for it, none alive',
    'a dead worker of the queue is counted, not taken for a live one'
);

-- A live worker (one slot) running a job of lock L; another job of L waits.
select procrastinate_register_worker_v2('busy', array['locked'], 1, 'h1', 10) as busy \gset
select procrastinate_defer_job('t', queue_name => 'locked', lock => 'L') as holder \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(:busy, array['locked'], 1) \gset
select procrastinate_defer_job('t', queue_name => 'locked', lock => 'L') as behind \gset
select procrastinate_defer_job(
    't', queue_name => 'locked', scheduled_at => now() + interval '1 day'
) as tomorrow \gset
select procrastinate_defer_job('t', queue_name => 'locked') as free \gset

select results_eq(
    $$select reason, jobs, job_id from procrastinate_why_waiting('locked')$$,
    format(
        $$values ('workers_busy'::text, 1::bigint, null::bigint),
                 ('waiting_for_lock', 1, %s),
                 ('scheduled_later', 1, %s),
                 ('runnable', 1, %s)$$,
        :holder, :tomorrow, :free
    ),
    'a busy worker, a job behind a held lock, one scheduled for tomorrow, one runnable'
);
select is(
    (select detail from procrastinate_why_waiting('locked') where reason = 'waiting_for_lock'),
    format('lock ''L'' is held by job %s, running on worker busy (alive)', :holder),
    'the lock names its holder and the holder''s worker'
);
select matches(
    (select detail from procrastinate_why_waiting('locked') where reason = 'workers_busy'),
    '1 live worker\(s\) serving the queue run 1 jobs in 1 slots',
    'the busy workers are counted with their slots'
);

-- A job behind an earlier job of its lock that is scheduled later.
select procrastinate_defer_job(
    't', queue_name => 'ordered', lock => 'M', scheduled_at => now() + interval '1 hour'
) as first_m \gset
select procrastinate_defer_job('t', queue_name => 'ordered', lock => 'M') as second_m \gset
select matches(
    (select detail from procrastinate_why_waiting('ordered') where reason = 'waiting_for_lock'),
    format('^lock ''M'': job %s comes first and is scheduled at ', :first_m),
    'a lock whose first job is scheduled later blocks the next one'
);

-- Jobs deferred after a job that has not ended: their own reason, not
-- scheduled_later (they wait at _procrastinate_held_until()).
select procrastinate_defer_job(
    't', queue_name => 'chained', scheduled_at => now() + interval '1 day'
) as parent \gset
select procrastinate_defer_job(
    't', queue_name => 'chained', after => array[:parent]::bigint[]
) as child \gset
select results_eq(
    $$select reason, jobs from procrastinate_why_waiting('chained')$$,
    $$values ('no_live_worker'::text, 2::bigint), ('waiting_for_parents', 1),
             ('scheduled_later', 1)$$,
    'a job deferred after another waits for its parent, the parent for its time'
);

-- Paused comes first, whatever else holds.
select procrastinate_pause_queue('lonely');
select is(
    (array(select reason from procrastinate_why_waiting('lonely')))[1],
    'paused',
    'a paused queue says so first'
);

select * from finish();
rollback;
