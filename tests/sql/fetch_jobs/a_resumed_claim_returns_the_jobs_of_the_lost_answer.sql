-- A fetch retried because its answer was lost (same claim token, p_resume
-- true) gets back the jobs the lost call claimed, then new ones up to its
-- limit. Another token, or no resume, never returns them.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(6);

select procrastinate_register_worker_v2('w', null, 2, 'h', 1) as w \gset
select procrastinate_defer_job('first', queue_name => 'c') as first \gset
select procrastinate_defer_job('second', queue_name => 'c') as second \gset
select procrastinate_defer_job('third', queue_name => 'c') as third \gset
select procrastinate_defer_job('fourth', queue_name => 'c') as fourth \gset

-- the answer of this claim is lost
select count(*) as lost
from procrastinate_fetch_jobs_v2(
    :w, array['c'], 2, p_claim_token => '00000000-0000-0000-0000-00000000000a'
) \gset

select is(
    (
        select array_agg(id order by id) from procrastinate_jobs
        where claim_token = '00000000-0000-0000-0000-00000000000a'
    ),
    array[:first, :second]::bigint[],
    'the claim records its token on the two jobs it took'
);
select results_eq(
    format(
        $$select id from procrastinate_fetch_jobs_v2(
            %s, array['c'], 2, p_claim_token => '00000000-0000-0000-0000-00000000000a',
            p_resume => true
        )$$,
        :w
    ),
    format('values (%s::bigint), (%s::bigint)', :first, :second),
    'a resumed fetch with the same token returns the two jobs of the lost answer'
);
select results_eq(
    format(
        $$select id from procrastinate_fetch_jobs_v2(
            %s, array['c'], 3, p_claim_token => '00000000-0000-0000-0000-00000000000a',
            p_resume => true
        )$$,
        :w
    ),
    format('values (%s::bigint), (%s::bigint), (%s::bigint)', :first, :second, :third),
    'with a higher limit, it claims new jobs up to the limit after them'
);
select results_eq(
    format(
        $$select id from procrastinate_fetch_jobs_v2(
            %s, array['c'], 10, p_claim_token => '00000000-0000-0000-0000-00000000000b',
            p_resume => true
        )$$,
        :w
    ),
    format('values (%s::bigint)', :fourth),
    'a fetch with another token gets none of them, only the job still waiting'
);
select is_empty(
    format(
        $$select id from procrastinate_fetch_jobs_v2(
            %s, array['c'], 10, p_claim_token => '00000000-0000-0000-0000-00000000000a'
        )$$,
        :w
    ),
    'the same token without p_resume claims only new jobs (none are left)'
);
select is_empty(
    format(
        $$select id from procrastinate_fetch_jobs_v2(
            %s, array['c'], 10, p_claim_token => '00000000-0000-0000-0000-00000000000a',
            p_resume => true
        )$$,
        :w + 1000
    ),
    'another worker resuming the same token gets nothing'
);

select * from finish();
rollback;
