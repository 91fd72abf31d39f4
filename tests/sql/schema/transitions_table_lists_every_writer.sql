-- The view procrastinate_job_transitions is the state machine written down:
-- every function whose body writes procrastinate_jobs (insert, update or
-- delete) is listed in it, and it lists no other; every status it names is a
-- label of procrastinate_job_status, or (new) / (deleted). A new writer must
-- update the view.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select set_eq(
    $$select p.proname::text
      from pg_proc as p
      where
          (p.proname like 'procrastinate\_%' or p.proname like '\_procrastinate\_%')
          and p.pronamespace = 'public'::regnamespace
          and p.prosrc ~* '(insert\s+into|update|delete\s+from)\s+procrastinate_jobs\M'$$,
    $$select distinct t.function_name::text from procrastinate_job_transitions as t$$,
    'the functions writing procrastinate_jobs are exactly those of the transitions view'
);
select is_empty(
    $$select t.from_status, t.to_status, t.function_name
      from procrastinate_job_transitions as t
      where
          t.from_status not in (
              select e.enumlabel::text from pg_enum as e
              where e.enumtypid = 'procrastinate_job_status'::regtype
              union all
              select '(new)'
          )
          or t.to_status not in (
              select e.enumlabel::text from pg_enum as e
              where e.enumtypid = 'procrastinate_job_status'::regtype
              union all
              select '(deleted)'
          )$$,
    'every transition goes from a status or (new) to a status or (deleted)'
);
select is_empty(
    $$select t.function_name
      from procrastinate_job_transitions as t
      where not exists (
          select 1 from pg_proc as p
          where p.proname = t.function_name and p.pronamespace = 'public'::regnamespace
      )$$,
    'every function the view names exists'
);
select is_empty(
    $$select t.from_status, t.to_status
      from procrastinate_job_transitions as t
      where 'aborting' in (t.from_status, t.to_status)$$,
    'no transition names aborting (procrastinate 3.x''s old status, dropped)'
);

select * from finish();
rollback;
