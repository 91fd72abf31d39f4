-- The statement triggers that join a statement's old and new rows do it by
-- hash: their plans are cached with the size of the first statement of the
-- session, and a nested loop planned for one row compared each row with each
-- in a claim or a report of thousands (8,000 rows: 6.4 s instead of 0.1 s),
-- so that a worker's reports, slower, came in ever bigger batches. The same
-- check as every_function_pins_its_search_path.sql: the functions' settings.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(2);

select is(
    (
        select array_agg(p.proname::text order by p.proname)
        from pg_proc as p
        inner join pg_namespace as n on p.pronamespace = n.oid
        where
            n.nspname = current_schema()
            and p.proname in (
                '_procrastinate_record_update_events', '_procrastinate_notify_updated_jobs'
            )
            and 'enable_nestloop=off' = any(p.proconfig)
            and 'jit=off' = any(p.proconfig)
    ),
    array['_procrastinate_notify_updated_jobs', '_procrastinate_record_update_events'],
    'the update triggers that join old and new rows plan no nested loop, and no JIT'
);

-- and every function of a trigger with an old and a new table is one of them
select is_empty(
    $$
    select distinct p.proname
    from pg_trigger as t
    inner join pg_proc as p on t.tgfoid = p.oid
    where
        t.tgrelid = 'procrastinate_jobs'::regclass
        and t.tgoldtable is not null and t.tgnewtable is not null
        and not ('enable_nestloop=off' = any(coalesce(p.proconfig, '{}')))
    $$,
    'no trigger function given both the old and the new rows may join them by nested loop'
);

select * from finish();
rollback;
