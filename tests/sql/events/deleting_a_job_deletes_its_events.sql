-- Events have no foreign key; the delete trigger removes the history of
-- deleted jobs, and only theirs.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_defer_job('gone') as gone \gset
select procrastinate_defer_job('kept') as kept \gset
select procrastinate_defer_job('also_gone') as also_gone \gset

select procrastinate_cancel_job(:gone, delete_job => true) as deleted \gset
select is(
    (select count(*)::integer from procrastinate_events where job_id = :gone), 0,
    'cancelling with delete_job removes the job''s events'
);
delete from procrastinate_jobs where id = :also_gone;
select is(
    (select count(*)::integer from procrastinate_events where job_id = :also_gone), 0,
    'a plain delete removes the job''s events'
);
select is(
    (select count(*)::integer from procrastinate_events where job_id = :kept), 1,
    'the events of other jobs remain'
);

select * from finish();
rollback;
