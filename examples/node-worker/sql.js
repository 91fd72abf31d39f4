'use strict';
// Every SQL statement of the example, in one place. Each one calls a
// function of the queue (docs/sql-api.md, "A worker in any language: the
// protocol"). When a function gets a new version (_v2, _v3 ...), this file
// is the only one to change. Arguments are passed by name, so that a new
// parameter with a default changes nothing here.

// --- A worker's life ---------------------------------------------------------

// At start: returns the id every later call carries. p_stalled_after is the
// worker's lease: seconds without a heartbeat after which its jobs are taken
// back (null: the server's procrastinate_settings.stalled_worker_timeout).
exports.REGISTER_WORKER = `
select procrastinate_register_worker_v2(
    p_name => $1, p_queues => $2::text[], p_concurrency => $3::integer,
    p_host => $4, p_pid => $5::integer, p_stalled_after => $6::double precision
) as worker_id`;

// Every few seconds: false when the worker row is gone (it was declared dead
// and its jobs were taken back).
exports.HEARTBEAT = `
select procrastinate_heartbeat_v2(p_worker_id => $1::bigint) as lease`;

// Claims up to $3 jobs of the queues $2 (null: every queue). $4 is a claim
// token; calling again with the same token and p_resume true gets back the
// jobs of a call whose answer was lost (a broken connection).
exports.FETCH_JOBS = `
select f.id, f.queue_name, f.task_name, f.args, f.attempts
from procrastinate_fetch_jobs_v2(
    p_worker_id => $1::bigint, p_queues => $2::text[], p_limit => $3::integer,
    p_claim_token => $4::uuid, p_resume => $5::boolean
) as f`;

// Reports outcomes: a JSON array of {"id", "attempt", "status", "error"}.
// Fenced: only the worker holding the job, at the attempt it fetched,
// changes it; any other report comes back with accepted false.
exports.FINISH_JOBS = `
select f.job_id, f.accepted, f.status::text as status, f.reason
from procrastinate_finish_jobs_v1(p_worker_id => $1::bigint, p_outcomes => $2::jsonb) as f`;

// Running jobs of this worker whose abort was requested (confirms a
// notification before acting on it).
exports.JOBS_TO_ABORT = `
select t.id from procrastinate_jobs_to_abort_v1(p_worker_id => $1::bigint) as t (id)`;

// Between two fetches, now and then and after an outage: compares the jobs
// the worker holds ($2: claimed, running or being reported) with those the
// database gives it. A failover to a standby that missed the last commits
// can lose a report (the job, given back to the queue here, runs again) or a
// claim (worker_knew true: that job is not ours any more, stop its run).
exports.RECONCILE_HELD_JOBS = `
select r.job_id, r.worker_knew, r.status::text as status
from procrastinate_reconcile_held_jobs_v1(p_worker_id => $1::bigint, p_held => $2::bigint[]) as r`;

// At stop: removes the worker; jobs it still held go back to the queue.
exports.UNREGISTER_WORKER = `
select procrastinate_unregister_worker_v2(p_worker_id => $1::bigint) as released`;

// Wakes the worker when jobs become available or an abort is requested.
exports.CHANNEL = 'procrastinate';
exports.LISTEN = 'listen procrastinate';

// --- Producing ---------------------------------------------------------------

// The user-facing defer function: any client may call it.
exports.DEFER_JOB = `
select procrastinate_defer_job(task_name => $1, args => $2::jsonb, queue_name => $3) as id`;

// --- The example task (tasks.js) ----------------------------------------------

// example_runs: one row per run of record_run, from any worker (README.md).
exports.RUN_STARTED = `
insert into example_runs (job_id, attempt, runner, pid)
values ($1::bigint, $2::integer, 'node', $3::integer)
returning run_id`;

exports.RUN_ENDED = `
update example_runs set ended_at = clock_timestamp() where run_id = $1::bigint`;
