-- A starting worker registers: it gets a new id and its row says who and
-- where it is, since p_now.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(4);

select procrastinate_register_worker_v2(
    'mailer', array['emails', 'sms'], 8, 'host-1', 4242, p_now => '2030-01-01 00:00:00+00'
) as mailer \gset
select procrastinate_register_worker_v2(null, null, 1, null, null) as anonymous \gset

select results_eq(
    format(
        $$select name, queues, concurrency, host, pid, started_at, last_heartbeat
          from procrastinate_workers where id = %s$$,
        :mailer
    ),
    $$values ('mailer'::text, array['emails', 'sms'], 8, 'host-1'::text, 4242,
              '2030-01-01 00:00:00+00'::timestamptz, '2030-01-01 00:00:00+00'::timestamptz)$$,
    'name, queues, concurrency, host, pid are stored; started and last seen at p_now'
);
select cmp_ok(:anonymous::bigint, '>', :mailer::bigint, 'each registration gets a new, larger id');
select results_eq(
    format(
        'select name, queues, last_heartbeat from procrastinate_workers where id = %s', :anonymous
    ),
    $$values ('worker'::text, null::text[], now())$$,
    'a worker without name is called worker, null queues mean all, p_now defaults to now'
);
select is(
    (select count(*)::integer from procrastinate_workers where id in (:mailer, :anonymous)), 2,
    'both workers are registered'
);

select * from finish();
rollback;
