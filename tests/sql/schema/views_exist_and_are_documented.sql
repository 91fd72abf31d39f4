-- The ops views exist and explain themselves in \d+.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select has_view('procrastinate_queue_stats', 'queue stats view exists');
select has_view('procrastinate_queue_backlog', 'queue backlog view exists');
select has_view('procrastinate_task_stats', 'task stats view exists');
select has_view('procrastinate_lock_stats', 'lock stats view exists');
select has_view('procrastinate_worker_stats', 'worker stats view exists');
select has_view('procrastinate_failed_jobs', 'failed jobs view exists');
select has_view('procrastinate_stalled_jobs', 'stalled jobs view exists');
select has_view('procrastinate_job_transitions', 'the transitions of a job are a view');
select is_empty(
    $$select c.relname::text
      from pg_class as c
      where
          c.relkind = 'v'
          and c.relname like 'procrastinate\_%'
          and c.relnamespace = 'public'::regnamespace
          and obj_description(c.oid, 'pg_class') is null$$,
    'every procrastinate_ view has a comment'
);

select * from finish();
rollback;
