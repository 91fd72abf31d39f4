-- procrastinate_why_waiting names the concurrency and rate limits that hold
-- due jobs of a queue back (held_by_limit, one row per limit), and counts
-- those jobs no more as runnable; a limit with room holds nothing back.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(5);

select procrastinate_register_worker_v2('w', array['mail'], 10, 'h', 1) as w \gset

-- a task limit of 1, its one slot taken; 3 more of the task and 1 other job wait
select procrastinate_set_limit(task_name => 'send', concurrency => 1);
select procrastinate_defer_job('send', queue_name => 'mail') as running_send \gset
select count(*) from procrastinate_fetch_jobs_v5(:w, array['mail'], 1);
select procrastinate_defer_job('send', queue_name => 'mail') as first_held \gset
select procrastinate_defer_job('send', queue_name => 'mail');
select procrastinate_defer_job('send', queue_name => 'mail');
select procrastinate_defer_job('report', queue_name => 'mail') as report \gset

select results_eq(
    $$select reason, jobs from procrastinate_why_waiting('mail') order by reason$$,
    $$values ('held_by_limit'::text, 3::bigint), ('runnable', 1)$$,
    'the 3 jobs of the full task limit are held back, the other job is runnable'
);
select results_eq(
    $$select job_id, detail from procrastinate_why_waiting('mail')
      where reason = 'held_by_limit'$$,
    format(
        $$values (%s::bigint, 'the concurrency limit of task ''send'' is full: 1 running '
                 'of 1 (procrastinate_limit_stats)')$$,
        :first_held
    ),
    'the limit is named with its running jobs, the first job it holds back given'
);

-- room again: nothing held
select procrastinate_set_limit(task_name => 'send', concurrency => 5);
select is_empty(
    $$select * from procrastinate_why_waiting('mail') where reason = 'held_by_limit'$$,
    'a limit with room holds nothing back'
);

-- a queue rate limit whose bucket is empty holds every due job of the queue
select procrastinate_set_limit(queue_name => 'mail', rate => 2, per => '1 minute');
update procrastinate_limits set tokens = 0, refilled_at = now() where scope = 'queue';
select results_eq(
    $$select reason, jobs, detail from procrastinate_why_waiting('mail')
      where reason = 'held_by_limit'$$,
    $$values (
        'held_by_limit'::text, 4::bigint,
        'the rate limit of queue ''mail'' (2 per 00:01:00) has no token left: the next in '
        || '30.000 s (procrastinate_limit_stats)'
    )$$,
    'an empty bucket holds the due jobs back, and says when its next token comes'
);
select is_empty(
    $$select * from procrastinate_why_waiting('mail') where reason = 'runnable'$$,
    'no job of the queue counts as runnable meanwhile'
);

select * from finish();
rollback;
