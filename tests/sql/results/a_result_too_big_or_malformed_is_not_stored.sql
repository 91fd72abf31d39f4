-- A result over procrastinate_settings.max_result_bytes is not stored: the
-- job still succeeds (its work is done) and result_error says why; so does a
-- result_error the worker sends (a value it could not encode). A malformed
-- result_error refuses the whole call (PT005) and changes nothing.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(7);

update procrastinate_settings set max_result_bytes = 100;
select procrastinate_defer_job('big', store_result => true) as big \gset
select procrastinate_defer_job('odd', store_result => true) as odd \gset
select procrastinate_defer_job('small', store_result => true) as small \gset
select count(*) from procrastinate_fetch_jobs_v3(7, null, 10);

select throws_ok(
    format(
        $$select * from procrastinate_finish_jobs_v1(7,
            '[{"id": %s, "status": "succeeded", "result_error": 3}]')$$,
        :small
    ),
    'PT005', 'outcome #1 has a result_error that is not a string',
    'a result_error that is not a string is refused'
);
select is(
    procrastinate_get_job_status(:small), 'doing'::procrastinate_job_status,
    'the refused call changed nothing'
);

select is(
    (
        select array_agg(f.status order by f.job_id) from procrastinate_finish_jobs_v1(
            7,
            format(
                '[{"id": %s, "status": "succeeded", "result": "%s"},
                  {"id": %s, "status": "succeeded",
                   "result_error": "the result is not JSON-serialisable (object)"},
                  {"id": %s, "status": "succeeded", "result": "fits"}]',
                :big, repeat('x', 200), :odd, :small
            )::jsonb
        ) as f
    ),
    array['succeeded', 'succeeded', 'succeeded']::procrastinate_job_status[],
    'every job succeeds, stored result or not'
);
select is(
    (select result from procrastinate_job_result(:big)), null,
    'a result over the limit is not stored'
);
select matches(
    (select result_error from procrastinate_job_result(:big)),
    '^the result \([0-9]+ bytes\) is over the limit of 100 bytes '
    '\(procrastinate_settings.max_result_bytes\): not stored$',
    'the job says why'
);
select results_eq(
    format('select result, result_error from procrastinate_job_result(%s)', :odd),
    $$values (null::jsonb, 'the result is not JSON-serialisable (object)')$$,
    'the worker''s reason is kept'
);
select is(
    (select result from procrastinate_job_result(:small)), '"fits"'::jsonb,
    'a result within the limit is stored'
);

select * from finish();
rollback;
