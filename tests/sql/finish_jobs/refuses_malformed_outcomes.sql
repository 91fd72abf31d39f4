-- Malformed outcomes are refused as a whole: PT005 for the shape, PT004 for
-- a status that is not an outcome, PT001 for a bad p_delete_jobs; the job
-- is left as it was.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(16);

select procrastinate_defer_job('held') as held \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(7, null, 1) \gset

select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '{"id": 1, "status": "succeeded"}')$$,
    'PT005', 'outcomes must be a JSON array, got object',
    'an outcome that is not in an array is refused'
);
select throws_ok(
    'select * from procrastinate_finish_jobs_v1(7, null)',
    'PT005', 'outcomes must be a JSON array, got null',
    'null outcomes are refused'
);
select throws_ok(
    format(
        $$select * from procrastinate_finish_jobs_v1(7, '[{"id": %s, "status": "succeeded"}, 3]')$$,
        :held
    ),
    'PT005', 'outcome #2 is not a JSON object',
    'an element that is not an object is refused, naming it, and nothing applies'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '[{"id": "1", "status": "succeeded"}]')$$,
    'PT005', 'outcome #1 needs an integer id',
    'an id that is a string is refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '[{"id": -1, "status": "succeeded"}]')$$,
    'PT005', 'outcome #1 needs an integer id',
    'a negative id is refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '[{"id": 1.5, "status": "succeeded"}]')$$,
    'PT005', 'outcome #1 needs an integer id',
    'a fractional id is refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(
        7, '[{"id": 1, "attempt": "0", "status": "succeeded"}]'
    )$$,
    'PT005', 'outcome #1 has an attempt that is not an integer',
    'an attempt that is a string is refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(
        7, '[{"id": 1, "status": "failed", "error": "boom"}]'
    )$$,
    'PT005',
    'outcome #1 has an error that is not {"types": [class names], "message": text, '
    || '"traceback": text}',
    'an error that is not an object is refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(
        7, '[{"id": 1, "status": "failed", "error": {"types": "ValueError"}}]'
    )$$,
    'PT005', null,
    'error types that are not an array are refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(
        7, '[{"id": 1, "status": "failed", "error": {"types": ["ValueError", 3]}}]'
    )$$,
    'PT005', null,
    'error types that are not all strings are refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(
        7, '[{"id": 1, "status": "failed", "error": {"message": {"text": "boom"}}}]'
    )$$,
    'PT005', null,
    'an error message that is not text is refused'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '[{"id": 1, "status": "todo"}]')$$,
    'PT004', 'outcome #1 has status todo, expected succeeded, failed or aborted',
    'a status that is not an outcome is refused with PT004'
);
select throws_ok(
    $$select * from procrastinate_finish_jobs_v1(7, '[{"id": 1}]')$$,
    'PT004', 'outcome #1 has status null, expected succeeded, failed or aborted',
    'a missing status is refused with PT004'
);
select throws_ok(
    format(
        $$select * from procrastinate_finish_jobs_v1(
            7, '[{"id": %s, "status": "succeeded"}]', 'sometimes'
        )$$,
        :held
    ),
    'PT001', 'p_delete_jobs must be never, successful or always, got sometimes',
    'an unknown p_delete_jobs is refused'
);
select throws_ok(
    format(
        $$select * from procrastinate_finish_jobs_v1(
            7, '[{"id": %s, "status": "succeeded"}]', null
        )$$,
        :held
    ),
    'PT001', null,
    'a null p_delete_jobs is refused'
);
select results_eq(
    format('select status, attempts, worker_id from procrastinate_jobs where id = %s', :held),
    $$values ('doing'::procrastinate_job_status, 0, 7::bigint)$$,
    'the held job is unchanged'
);

select * from finish();
rollback;
