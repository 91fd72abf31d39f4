-- An outcome without an integer id is malformed (PT005), not a missing job.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(2);

select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '[{"status": "succeeded"}]')$$,
    'PT005', 'outcome #1 needs an integer id',
    'an outcome without id is refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '[{"id": null, "status": "succeeded"}]')$$,
    'PT005', 'outcome #1 needs an integer id',
    'an outcome with a null id is refused (this one passes: control)'
);

select * from finish();
rollback;
