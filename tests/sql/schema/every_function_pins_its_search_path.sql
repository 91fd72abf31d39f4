-- Every function of the queue pins its search_path, and only the two that
-- a producer role must reach without table rights run as their owner.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select is_empty(
    $$select p.oid::regprocedure::text
      from pg_proc as p
      where
          p.proname like 'procrastinate\_%'
          and p.pronamespace = 'public'::regnamespace
          and not exists (
              select 1 from unnest(p.proconfig) as c (setting)
              where c.setting like 'search\_path=%'
          )$$,
    'every procrastinate_ function sets its search_path'
);
select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        where
            p.proname like 'procrastinate\_%'
            and p.pronamespace = 'public'::regnamespace
            and p.prosecdef
    ),
    array['procrastinate_defer_jobs_v1', 'procrastinate_get_job_status'],
    'only the defer and status functions are security definer'
);
select is_definer(
    'procrastinate_defer_jobs_v1', array['jsonb'],
    'procrastinate_defer_jobs_v1 runs as its owner'
);
select is(
    (
        select count(*)::integer
        from pg_proc as p
        where
            p.proname like 'procrastinate\_%'
            and p.pronamespace = 'public'::regnamespace
            and p.proname in (
                select p2.proname from pg_proc as p2
                where p2.pronamespace = 'public'::regnamespace
                group by p2.proname having count(*) > 1
            )
    ),
    0,
    'no procrastinate_ function is overloaded'
);

select * from finish();
rollback;
