-- An unknown job raises PT003.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select coalesce(max(id), 0) + 1000 as unknown from procrastinate_jobs \gset

select throws_ok(
    format('select procrastinate_cancel_job(%s)', :unknown),
    'PT003', format('job %s does not exist', :unknown),
    'cancelling an unknown job raises PT003'
);
select throws_ok(
    format('select procrastinate_cancel_job(%s, abort => true)', :unknown),
    'PT003', null,
    'aborting an unknown job raises PT003'
);
select throws_ok(
    'select procrastinate_cancel_job(null)',
    'PT001', null,
    'a null job id is a bad argument: PT001'
);

select * from finish();
rollback;
