-- procrastinate_settings.history: 'full' (the default) records every
-- transition; 'outcomes' all but the normal path's 'deferred', 'started' and
-- 'released'; 'none' nothing. The same lives (defer, claim, succeed, fail
-- and retry, cancel, abort, give back, schedule, manual retry) run at each
-- level; a value outside the three is refused and leaves the row as it was.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(31);

select procrastinate_register_worker_v2('w', null, 10, 'h', 1) as w \gset

-- The event types of a job, oldest first ('{}' when none).
create function pg_temp.history(p_job_id bigint)
returns text[]
language sql
as $$
    select coalesce(array_agg(e.type::text order by e.id), '{}')
    from procrastinate_events as e
    where e.job_id = p_job_id;
$$;

-- Claims the job of one queue (the worker :w) at a pinned time.
create function pg_temp.claim(p_worker_id bigint, p_queue text, p_now timestamptz)
returns bigint
language sql
as $$
    select f.id from procrastinate_fetch_jobs_v5(
        p_worker_id, array[p_queue], 1, p_now => p_now
    ) as f;
$$;

create function pg_temp.report(p_worker_id bigint, p_id bigint, p_status text, p_now timestamptz)
returns void
language sql
as $$
    select null from procrastinate_finish_jobs_v1(
        p_worker_id, jsonb_build_array(jsonb_build_object('id', p_id, 'status', p_status)),
        'never', p_now
    );
$$;

-- Runs every life once, in queues named after the level, and returns each
-- job's history by the name of its life.
create function pg_temp.lives(p_worker_id bigint, p_level text)
returns table (life text, events text[])
language plpgsql
as $$
declare
    v_t0 constant timestamptz := '2030-01-01 10:00:00+00';
    v_ok bigint;
    v_retry bigint;
    v_cancel bigint;
    v_abort bigint;
    v_release bigint;
    v_later bigint;
begin
    -- defer, claim, succeed
    v_ok := procrastinate_defer_job('ok', queue_name => p_level || ':ok');
    perform pg_temp.claim(p_worker_id, p_level || ':ok', v_t0);
    perform pg_temp.report(p_worker_id, v_ok, 'succeeded', v_t0);
    -- defer, claim, fail and retried by the policy 30 s later, claim, fail
    -- for good, then retried by hand
    v_retry := procrastinate_defer_job(
        'retry', queue_name => p_level || ':retry', max_attempts => 1, retry_wait => 30
    );
    perform pg_temp.claim(p_worker_id, p_level || ':retry', v_t0);
    perform pg_temp.report(p_worker_id, v_retry, 'failed', v_t0);
    perform pg_temp.claim(p_worker_id, p_level || ':retry', v_t0 + interval '30 seconds');
    perform pg_temp.report(p_worker_id, v_retry, 'failed', v_t0 + interval '30 seconds');
    perform procrastinate_retry_job(v_retry);
    -- defer, cancel while waiting
    v_cancel := procrastinate_defer_job('cancel', queue_name => p_level || ':cancel');
    perform procrastinate_cancel_job(v_cancel);
    -- defer, claim, abort requested, aborted
    v_abort := procrastinate_defer_job('abort', queue_name => p_level || ':abort');
    perform pg_temp.claim(p_worker_id, p_level || ':abort', v_t0);
    perform procrastinate_cancel_job(v_abort, abort => true);
    perform pg_temp.report(p_worker_id, v_abort, 'aborted', v_t0);
    -- defer, claim ahead, given back unstarted
    v_release := procrastinate_defer_job('release', queue_name => p_level || ':release');
    perform pg_temp.claim(p_worker_id, p_level || ':release', v_t0);
    perform procrastinate_release_jobs_v2(p_worker_id, array[v_release]);
    -- deferred for later
    v_later := procrastinate_defer_job(
        'later', queue_name => p_level || ':later', scheduled_at => '2040-01-01'
    );
    return query
    values
    ('ok', pg_temp.history(v_ok)),
    ('retry', pg_temp.history(v_retry)),
    ('cancel', pg_temp.history(v_cancel)),
    ('abort', pg_temp.history(v_abort)),
    ('release', pg_temp.history(v_release)),
    ('later', pg_temp.history(v_later));
end;
$$;

-- The default
select is(
    (select s.history from procrastinate_settings as s), 'full', 'the default level is full'
);
create temporary table lives_full as select * from pg_temp.lives(:w, 'full');
select is(
    (select l.events from lives_full as l where l.life = 'ok'),
    array['deferred', 'started', 'succeeded'],
    'full: a success has deferred, started, succeeded'
);
select is(
    (select l.events from lives_full as l where l.life = 'retry'),
    array[
        'deferred', 'started', 'scheduled', 'deferred_for_retry', 'started', 'failed', 'retried'
    ],
    'full: a retried failure has every step'
);
select is(
    (select l.events from lives_full as l where l.life = 'cancel'),
    array['deferred', 'cancelled'],
    'full: a cancellation has deferred, cancelled'
);
select is(
    (select l.events from lives_full as l where l.life = 'abort'),
    array['deferred', 'started', 'abort_requested', 'aborted'],
    'full: an abort has deferred, started, abort_requested, aborted'
);
select is(
    (select l.events from lives_full as l where l.life = 'release'),
    array['deferred', 'started', 'released'],
    'full: a job given back has deferred, started, released'
);
select is(
    (select l.events from lives_full as l where l.life = 'later'),
    array['scheduled', 'deferred'],
    'full: a job deferred for later has scheduled, deferred'
);

-- outcomes
select lives_ok(
    $$update procrastinate_settings set history = 'outcomes'$$, 'outcomes is accepted'
);
create temporary table lives_outcomes as select * from pg_temp.lives(:w, 'outcomes');
select is(
    (select l.events from lives_outcomes as l where l.life = 'ok'),
    array['succeeded'],
    'outcomes: a success has its succeeded event only'
);
select is(
    (select l.events from lives_outcomes as l where l.life = 'retry'),
    array['scheduled', 'deferred_for_retry', 'failed', 'retried'],
    'outcomes: a retried failure keeps its retry, its schedule, its failure, its manual retry'
);
select is(
    (select l.events from lives_outcomes as l where l.life = 'cancel'),
    array['cancelled'],
    'outcomes: a cancellation keeps cancelled'
);
select is(
    (select l.events from lives_outcomes as l where l.life = 'abort'),
    array['abort_requested', 'aborted'],
    'outcomes: an abort keeps abort_requested and aborted'
);
select is(
    (select l.events from lives_outcomes as l where l.life = 'release'),
    '{}'::text[],
    'outcomes: a claim given back unstarted leaves no event'
);
select is(
    (select l.events from lives_outcomes as l where l.life = 'later'),
    array['scheduled'],
    'outcomes: a job deferred for later keeps its scheduled event'
);
select is(
    (
        select count(*)::integer from procrastinate_events as e
        inner join procrastinate_jobs as j on e.job_id = j.id
        where j.queue_name like 'outcomes:%' and e.type in ('deferred', 'started', 'released')
    ),
    0,
    'outcomes: no deferred, started or released event at all'
);

-- none
select lives_ok($$update procrastinate_settings set history = 'none'$$, 'none is accepted');
create temporary table lives_none as select * from pg_temp.lives(:w, 'none');
select is(
    (select count(*)::integer from lives_none as l where l.events <> '{}'), 0,
    'none: no life leaves an event'
);
select is(
    (
        select count(*)::integer from procrastinate_events as e
        inner join procrastinate_jobs as j on e.job_id = j.id
        where j.queue_name like 'none:%'
    ),
    0,
    'none: no event at all for its jobs'
);
select is(
    (select count(*)::integer from procrastinate_jobs as j where j.queue_name like 'none:%'),
    6,
    'none: the jobs themselves are all there'
);
select results_eq(
    $$select j.status::text from procrastinate_jobs as j
      where j.queue_name like 'none:%' order by j.queue_name$$,
    $$values ('aborted'), ('cancelled'), ('todo'), ('succeeded'), ('todo'), ('todo')$$,
    'none: the jobs went through the same lives (abort, cancel, later, ok, release, retry)'
);

-- Deleting a job deletes its events whatever the level (those of an
-- earlier level included)
select ok(
    procrastinate_cancel_job(
        (select j.id from procrastinate_jobs as j where j.queue_name = 'full:later'),
        delete_job => true
    ),
    'a job deferred at full is deleted at none'
);
select is(
    (
        select count(*)::integer from procrastinate_events as e
        where not exists (select 1 from procrastinate_jobs as j where j.id = e.job_id)
    ),
    0,
    'its events went with it'
);

-- A value outside the three is refused; the row stays as it was
select throws_ok(
    $$update procrastinate_settings set history = 'started'$$, '23514', null,
    'an unknown level is refused (check constraint procrastinate_settings_history)'
);
select throws_ok(
    $$update procrastinate_settings set history = 'Full'$$, '23514', null,
    'levels are lower case'
);
select throws_ok(
    $$update procrastinate_settings set history = null$$, '23502', null, 'null is refused'
);
select throws_ok(
    $$update procrastinate_settings set history = 'nothing', max_rescues = 7$$, '23514', null,
    'an update that sets an unknown level with another setting is refused'
);
select results_eq(
    $$select history, max_rescues from procrastinate_settings$$,
    $$values ('none'::text, 3)$$,
    'the row is as it was: none, and the other setting unchanged'
);

-- Back to full: the next statements record everything again
select lives_ok($$update procrastinate_settings set history = 'full'$$, 'full is accepted');
select procrastinate_defer_job('again', queue_name => 'again') as again \gset
select is(pg_temp.history(:again), array['deferred'], 'back at full, a defer records deferred');
select is(
    (select count(*)::integer from procrastinate_settings), 1, 'there is still exactly one row'
);
select is(
    (select count(*)::integer from lives_full), 6, 'every life ran at full'
);

select * from finish();
rollback;
