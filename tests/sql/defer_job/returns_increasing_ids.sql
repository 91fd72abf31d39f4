-- Each defer returns a new id, larger than the previous ones.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(3);

select procrastinate_defer_job('first') as first_id \gset
select procrastinate_defer_job('second') as second_id \gset
select procrastinate_defer_job('third', '{"n": 3}', 'other') as third_id \gset

select cmp_ok(:second_id::bigint, '>', :first_id::bigint, 'the second id is larger than the first');
select cmp_ok(:third_id::bigint, '>', :second_id::bigint, 'the third id is larger than the second');
select is(
    (
        select array_agg(task_name order by id)
        from procrastinate_jobs
        where id in (:first_id, :second_id, :third_id)
    ),
    array['first', 'second', 'third'],
    'each id is the id of its own job'
);

select * from finish();
rollback;
