-- A retry decision must be false or {"at": timestamp, "in": seconds from 0 to
-- 1e10, "priority": integer, "queue": non-empty text, "lock": text}, a sent
-- policy an object of
-- numbers: anything else is refused with PT005 and nothing is applied.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(13);

select procrastinate_defer_job('held') as held \gset
select count(*) as claimed from procrastinate_fetch_jobs_v2(7, null, 1) \gset

-- Reports the held job failed with the given extra keys.
create function pg_temp.report(p_job_id bigint, p_extra jsonb)
returns setof record
language sql
as $$
    select f.* from procrastinate_finish_jobs_v1(
        7, jsonb_build_array(jsonb_build_object('id', p_job_id, 'status', 'failed') || p_extra)
    ) as f;
$$;

select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": true}')$$, :held),
    'PT005', 'outcome #1 has a retry that is neither false nor a decision object',
    'retry true is refused (the policy decides when retry is absent)'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": 60}')$$, :held),
    'PT005', null,
    'a retry that is a number is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": {"at": 1700000000}}')$$, :held),
    'PT005',
    'outcome #1 has a retry decision that is not {"at": timestamp, "in": seconds, '
    || '"priority": integer, "queue": text, "lock": text}',
    'a retry time that is a number is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": {"in": -1}}')$$, :held),
    'PT005', null,
    'a negative retry delay in seconds is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": {"in": "60"}}')$$, :held),
    'PT005', null,
    'a retry delay that is not a number is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": {"at": "soon"}}')$$, :held),
    'PT005', null,
    'a retry time that does not parse is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": {"priority": 1.5}}')$$, :held),
    'PT005', null,
    'a fractional retry priority is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": {"queue": ""}}')$$, :held),
    'PT005', null,
    'an empty retry queue is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"retry": {"lock": 5}}')$$, :held),
    'PT005', null,
    'a retry lock that is not text is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"policy": [3]}')$$, :held),
    'PT005', 'outcome #1 has a policy that is not an object',
    'a policy that is not an object is refused'
);
select throws_ok(
    format($$select pg_temp.report(%s, '{"policy": {"max_attempts": "three"}}')$$, :held),
    'PT005', null,
    'a policy whose max_attempts is not a number is refused'
);
select throws_ok(
    format(
        $$select pg_temp.report(%s, '{"policy": {"max_attempts": 3, "retry_wait": "1s"}}')$$,
        :held
    ),
    'PT005', null,
    'a policy whose wait is not a number is refused'
);
select results_eq(
    format('select status, attempts, worker_id from procrastinate_jobs where id = %s', :held),
    $$values ('doing'::procrastinate_job_status, 0, 7::bigint)$$,
    'the held job is unchanged'
);

select * from finish();
rollback;
