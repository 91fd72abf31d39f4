-- A parent deleted before it ended counts as not succeeded: the jobs
-- deferred after it are cancelled (after_policy succeeded) or released
-- (always), once, however many of their parents one statement deletes.
-- Deleting jobs without dependents touches no dependency.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_defer_job('p1') as p1 \gset
select procrastinate_defer_job('p2') as p2 \gset
select procrastinate_defer_job('p3') as p3 \gset
select procrastinate_defer_job('strict', after => array[:p1]::bigint[]) as strict \gset
select procrastinate_defer_job(
    'lenient', after => array[:p2, :p3]::bigint[], after_policy => 'always'
) as lenient \gset
select procrastinate_defer_job('bystander') as bystander \gset

delete from procrastinate_jobs where id = :p1;
select is(
    (select status::text from procrastinate_jobs where id = :strict),
    'cancelled',
    'a dependent whose parent is deleted before it ends is cancelled (after_policy succeeded)'
);
select matches(
    (select last_error from procrastinate_jobs where id = :strict),
    format('^cancelled: job %s, .* ended deleted$', :p1),
    'its last error names the deleted parent'
);

delete from procrastinate_jobs where id in (:p2, :p3, :bystander);
select is(
    (select scheduled_at from procrastinate_jobs where id = :lenient),
    null,
    'a dependent with after_policy always is released when its parents are deleted together'
);
select is(
    (select status::text from procrastinate_jobs where id = :lenient),
    'todo',
    'and waits to be claimed'
);
select is(
    (select count(*)::integer from procrastinate_job_dependencies),
    0,
    'no dependency is left behind'
);
select is(
    (
        select count(*)::integer from procrastinate_events as e
        where e.job_id = :lenient and e.type = 'cancelled'
    ),
    0,
    'the released dependent was not cancelled on the way'
);

select * from finish();
rollback;
