-- procrastinate_pause_queue stops fetching from a queue (false if already
-- paused); procrastinate_resume_queue undoes it (false if not paused).
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(8);

select procrastinate_defer_job('mail', queue_name => 'pq') as mail \gset

select is(procrastinate_pause_queue('pq'), true, 'pausing a queue returns true');
select is(procrastinate_pause_queue('pq'), false, 'pausing it again returns false');
select is(
    (select paused from procrastinate_queue_stats where queue_name = 'pq'), true,
    'the queue shows as paused'
);
select is_empty(
    $$select id from procrastinate_fetch_jobs_v2(1, null, 10)$$,
    'its job is not fetched'
);
select lives_ok(
    $$select procrastinate_defer_job('mail', queue_name => 'pq')$$,
    'deferring to a paused queue still works'
);
select is(procrastinate_resume_queue('pq'), true, 'resuming returns true');
select is(procrastinate_resume_queue('pq'), false, 'resuming again returns false');
select is(
    (select count(*)::integer from procrastinate_fetch_jobs_v2(1, array['pq'], 10)), 2,
    'its jobs are fetched again'
);

select * from finish();
rollback;
