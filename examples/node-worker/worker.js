'use strict';
// A procrastinate worker in Node.js: a user of the queue's SQL contract
// (docs/sql-api.md, "A worker in any language: the protocol").
//
//   register -> [fetch -> run -> finish]* with heartbeats beside -> unregister
//
// The queue's rules (which job comes next, locks, retries, fencing, rescue of
// dead workers) live in PostgreSQL; this file only turns free slots into
// fetches, runs the task functions of tasks.js and reports their outcomes.
// Every SQL statement is in sql.js. Run it with `node worker.js --help`.

const os = require('node:os');
const { randomUUID } = require('node:crypto');
const { parseArgs } = require('node:util');
const pg = require('pg');
const sql = require('./sql');
const { tasks } = require('./tasks');

const USAGE = `Usage: node worker.js [options]

Connects with the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
Each option may also come from the environment variable in brackets.

  --queues=a,b         queues to take jobs from; empty: every queue [PROCRASTINATE_QUEUES]
  --concurrency=N      jobs run at once (default 4) [PROCRASTINATE_CONCURRENCY]
  --heartbeat=SECONDS  heartbeat interval (default 10) [PROCRASTINATE_HEARTBEAT]
  --stalled-after=S    lease: silent this long, the worker's jobs are taken back
                       (default: the server's stalled_worker_timeout) [PROCRASTINATE_STALLED_AFTER]
  --poll=SECONDS       fetch at least this often without a notification (default 5) [PROCRASTINATE_POLL]
  --name=NAME          worker name shown in procrastinate_workers [PROCRASTINATE_WORKER_NAME]

SIGTERM or SIGINT: stop fetching, let running jobs end, report them, unregister.`;

// --- Options -----------------------------------------------------------------

function readOptions(argv = process.argv.slice(2), env = process.env) {
  const { values } = parseArgs({
    args: argv,
    options: {
      queues: { type: 'string' },
      concurrency: { type: 'string' },
      heartbeat: { type: 'string' },
      'stalled-after': { type: 'string' },
      poll: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const pick = (option, variable) => values[option] ?? env[variable] ?? '';
  const positive = (option, variable, fallback) => {
    const text = pick(option, variable);
    if (text === '') return fallback;
    const value = Number(text);
    if (!(value > 0)) throw new Error(`--${option} must be a positive number, got ${text}`);
    return value;
  };
  const queues = pick('queues', 'PROCRASTINATE_QUEUES')
    .split(',')
    .map((queue) => queue.trim())
    .filter(Boolean);
  const concurrency = positive('concurrency', 'PROCRASTINATE_CONCURRENCY', 4);
  if (!Number.isInteger(concurrency)) throw new Error('--concurrency must be an integer');
  return {
    queues: queues.length ? queues : null, // null: every queue
    concurrency,
    heartbeatSeconds: positive('heartbeat', 'PROCRASTINATE_HEARTBEAT', 10),
    stalledAfterSeconds: positive('stalled-after', 'PROCRASTINATE_STALLED_AFTER', null),
    pollSeconds: positive('poll', 'PROCRASTINATE_POLL', 5),
    name: pick('name', 'PROCRASTINATE_WORKER_NAME') || 'node-worker',
  };
}

// --- Outcomes ------------------------------------------------------------------

// The class names of an error and of its bases, e.g. ["TypeError", "Error"]:
// a job's retry_exceptions are matched against them.
function errorTypes(error) {
  const types = [];
  if (error instanceof Object) {
    let prototype = Object.getPrototypeOf(error);
    while (prototype && prototype !== Object.prototype) {
      types.push(prototype.constructor.name);
      prototype = Object.getPrototypeOf(prototype);
    }
  }
  return types.length ? types : ['Error'];
}

// What procrastinate_finish_jobs_v1 expects for one job. `attempt` is the
// job's attempts as fetched: the report is fenced on it.
// A job stopped because this worker lost its lease did nothing wrong: it is
// reported interrupted and goes back to the queue at once.
function outcomeOf(job, error, signal) {
  const outcome = { id: Number(job.id), attempt: job.attempts, status: 'succeeded' };
  if (error !== undefined) {
    outcome.status = signal?.aborted ? 'aborted' : 'failed';
    outcome.error = { types: errorTypes(error), message: String(error?.message ?? error) };
    if (signal?.aborted && signal.reason === LEASE_LOST) {
      outcome.interrupted = true;
      outcome.retry = { in: 0 };
    }
  }
  return outcome;
}

// The abort reason of the jobs a worker stops when its lease is about to run
// out; and the share of the lease without a successful call that triggers it.
const LEASE_LOST = 'lease_lost';
const FENCE_SHARE = 0.75;

// --- The worker ----------------------------------------------------------------

class Worker {
  // pool: a pg.Pool; tasks: as in tasks.js; the rest: readOptions().
  constructor({ pool, tasks, ...options }) {
    this.pool = pool;
    this.tasks = tasks;
    this.queues = options.queues;
    this.concurrency = options.concurrency;
    this.heartbeatSeconds = options.heartbeatSeconds;
    this.stalledAfterSeconds = options.stalledAfterSeconds;
    this.pollSeconds = options.pollSeconds;
    this.name = options.name;
    this.workerId = null;
    this.running = new Map(); // job id -> {job, controller, done}
    this.stopping = false;
    this.woken = false; // something happened since the last fetch: fetch again
    this.wakeUp = () => {}; // ends the current wait
    this.listener = null; // the pg.Client that LISTENs
    this.pendingClaim = null; // claim token of a fetch whose answer was lost
    this.reconciledAt = Date.now(); // when held jobs were last compared (ms)
    this.reconcileSoon = false; // a call failed: compare once the database answers
    this.heartbeatTimer = null;
    this.beating = false;
    // The lease (seconds, as the heartbeat says), when the last successful
    // call was sent (ms), and whether the jobs were stopped for want of one.
    this.lease = null;
    this.renewedAt = 0;
    this.fenced = false;
    this.fenceTimer = null;
  }

  log(message) {
    console.log(`[node-worker ${this.workerId ?? '-'}] ${message}`);
  }

  async run() {
    const sentAt = Date.now();
    this.workerId = await this.register();
    this.lease = (await this.pool.query(sql.HEARTBEAT, [this.workerId])).rows[0].lease;
    this.renewed(sentAt);
    this.log(`registered: queues ${this.queues ?? 'all'}, concurrency ${this.concurrency}, lease ${this.lease} s`);
    await this.listen();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatSeconds * 1000);
    this.fenceTimer = setInterval(() => this.checkLease(), 250);
    while (!this.stopping) {
      this.woken = false;
      const free = this.concurrency - this.running.size;
      let claimed = 0;
      if (free > 0 && !this.fenced) {
        try {
          if (this.reconcileDue()) await this.reconcile();
          claimed = await this.fetchAndStart(free);
        } catch (error) {
          this.reconcileSoon = true;
          this.log(`fetch failed, trying again later: ${error.message}`);
        }
      }
      // A full batch: more jobs may be waiting, fetch again at once.
      // Otherwise wait for a notification, a free slot or the poll timer.
      if (free === 0 || claimed < free) await this.wait(this.pollSeconds * 1000);
    }
    this.log(`stopping: waiting for ${this.running.size} running job(s)`);
    await Promise.all([...this.running.values()].map((run) => run.done));
    clearInterval(this.heartbeatTimer);
    clearInterval(this.fenceTimer);
    await this.closeListener();
    const { rows } = await this.pool.query(sql.UNREGISTER_WORKER, [this.workerId]);
    this.log(`unregistered (${rows[0].released} job(s) given back)`);
  }

  stop() {
    if (!this.stopping) this.log('stop requested');
    this.stopping = true;
    this.wake();
  }

  async register() {
    const { rows } = await this.pool.query(sql.REGISTER_WORKER, [
      this.name, this.queues, this.concurrency, os.hostname(), process.pid, this.stalledAfterSeconds,
    ]);
    return rows[0].worker_id; // a bigint: pg gives it as a string, kept as is
  }

  // --- waking up: notifications, freed slots, the poll timer ---------------------

  wake() {
    this.woken = true;
    this.wakeUp();
  }

  wait(ms) {
    if (this.woken || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async listen() {
    const client = new pg.Client();
    client.on('notification', (message) => this.onNotification(message));
    client.on('error', (error) => {
      this.log(`listening connection lost (${error.message}): polling until it is back`);
      if (this.listener === client) this.listener = null;
    });
    try {
      await client.connect();
      await client.query(sql.LISTEN);
      this.listener = client;
    } catch (error) {
      this.log(`cannot listen (${error.message}): polling until it works`);
      client.end().catch(() => {});
    }
  }

  async closeListener() {
    const client = this.listener;
    this.listener = null;
    if (client) await client.end().catch(() => {});
  }

  onNotification(message) {
    if (message.channel !== sql.CHANNEL) return;
    let payload;
    try {
      payload = JSON.parse(message.payload);
    } catch {
      return; // not one of ours: the channel is open to any client
    }
    if (payload.type === 'job_available') {
      const queues = payload.queues; // null: some queue, look anyway
      if (!queues || !this.queues || queues.some((queue) => this.queues.includes(queue))) this.wake();
    } else if (payload.type === 'abort_requested') {
      this.checkAborts().catch((error) => this.log(`abort check failed: ${error.message}`));
    }
  }

  // --- fetch, run, finish ----------------------------------------------------------

  async fetchAndStart(limit) {
    // A fetch whose answer was lost is asked again with the same token:
    // the jobs it claimed come back instead of staying claimed by nobody.
    const resume = this.pendingClaim !== null;
    const token = this.pendingClaim ?? randomUUID();
    this.pendingClaim = token;
    const workerId = this.workerId;
    const sentAt = Date.now();
    const { rows } = await this.pool.query(sql.FETCH_JOBS, [workerId, this.queues, limit, token, resume]);
    this.renewed(sentAt);
    this.pendingClaim = null;
    for (const job of rows) this.start(job, workerId);
    return rows.length;
  }

  // Not with a fetch whose answer was lost pending: the jobs it claimed are
  // ours, but not known here yet.
  reconcileDue() {
    if (this.pendingClaim !== null) return false;
    return this.reconcileSoon || Date.now() - this.reconciledAt >= this.heartbeatSeconds * 1000;
  }

  async reconcile() {
    const held = [...this.running.keys()];
    const { rows } = await this.pool.query(sql.RECONCILE_HELD_JOBS, [this.workerId, held]);
    this.reconciledAt = Date.now();
    this.reconcileSoon = false;
    for (const row of rows) {
      const run = this.running.get(row.job_id);
      if (row.worker_knew && run) {
        // Its claim was lost: stop the run and keep its outcome to ourselves.
        run.disowned = true;
        run.controller.abort();
        this.log(`job ${row.job_id}: not ours in the database (status ${row.status ?? 'gone'}): stopped`);
      } else if (!row.worker_knew) {
        this.log(`job ${row.job_id}: ours in the database but unknown here (its report was lost): taken back, now ${row.status}`);
      }
    }
  }

  start(job, workerId) {
    if (this.running.has(job.id)) {
      // Claimed again while a run whose claim was lost goes on: the next
      // comparison gives it back to the queue (it is not in running twice).
      this.log(`job ${job.id}: claimed again while an earlier run of it goes on: left for the next comparison`);
      return;
    }
    const controller = new AbortController();
    const run = { job, controller };
    run.done = this.execute(job, controller.signal)
      .then((outcome) => (run.disowned ? undefined : this.report(workerId, outcome)))
      .catch((error) => this.log(`job ${job.id}: ${error.message}`))
      .finally(() => {
        this.running.delete(job.id);
        this.wake(); // a slot is free
      });
    this.running.set(job.id, run);
  }

  async execute(job, signal) {
    const task = this.tasks[job.task_name];
    this.log(`job ${job.id}: ${job.task_name} ${JSON.stringify(job.args)} (attempt ${job.attempts + 1})`);
    try {
      if (!task) throw new Error(`unknown task ${job.task_name}`);
      await task(job.args, { job, pool: this.pool, signal });
      return outcomeOf(job);
    } catch (error) {
      return outcomeOf(job, error, signal);
    }
  }

  // One outcome per call keeps this short; the function takes a whole array,
  // so a busier worker would send the outcomes of many jobs at once.
  async report(workerId, outcome) {
    for (let tries = 1; ; tries++) {
      try {
        const sentAt = Date.now();
        const { rows } = await this.pool.query(sql.FINISH_JOBS, [workerId, JSON.stringify([outcome])]);
        this.renewed(sentAt);
        const result = rows[0];
        if (result.accepted) this.log(`job ${outcome.id}: ${outcome.status}, now ${result.status}`);
        else this.log(`job ${outcome.id}: report refused (${result.reason}): no longer ours`);
        return;
      } catch (error) {
        // Unreported, the job stays ours in doing: unregistering gives it
        // back, or, if we die, the rescue by another worker does.
        if (tries === 5) throw new Error(`could not report ${outcome.status}: ${error.message}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  // --- beside the jobs: heartbeat, aborts, the listener ---------------------------

  // Also while stopping: the running jobs are ours until they are reported.
  async heartbeat() {
    if (this.beating) return;
    this.beating = true;
    try {
      const sentAt = Date.now();
      const { rows } = await this.pool.query(sql.HEARTBEAT, [this.workerId]);
      if (rows[0].lease === null) {
        await this.registerAgain();
      } else {
        this.lease = rows[0].lease;
      }
      this.renewed(sentAt);
      if (this.fenced) {
        this.fenced = false;
        this.log('lease renewed: fetching again');
        this.wake();
      }
      await this.checkAborts();
      if (!this.listener && !this.stopping) {
        await this.listen();
        this.wake(); // notifications may have been missed meanwhile
      }
    } catch (error) {
      this.log(`heartbeat failed: ${error.message}`);
    } finally {
      this.beating = false;
    }
  }

  // Every successful call (heartbeat, fetch, finish) renewed the lease in
  // the database at or after the moment it was sent.
  renewed(sentAt) {
    this.renewedAt = Math.max(this.renewedAt, sentAt);
  }

  // No successful call for most of the lease: stop fetching and abort the
  // running jobs now, before the lease runs out and another worker may take
  // them (a job, or a lock, never runs twice at once). The next heartbeat
  // that gets through lifts the fence.
  checkLease() {
    if (this.fenced || this.lease === null) return;
    const silent = (Date.now() - this.renewedAt) / 1000;
    if (silent < this.lease * FENCE_SHARE) return;
    this.fenced = true;
    this.log(`no successful database call for ${silent.toFixed(1)} s of a ${this.lease} s lease: stopping ${this.running.size} running job(s)`);
    for (const run of this.running.values()) run.controller.abort(LEASE_LOST);
  }

  // Our row is gone: we were silent past our lease and our jobs were taken
  // back (another worker may run them now). Abort what still runs here (its
  // reports would be refused anyway) and go on under a new id.
  async registerAgain() {
    const oldId = this.workerId;
    for (const run of this.running.values()) run.controller.abort();
    this.workerId = await this.register();
    this.log(`worker ${oldId} was declared dead; registered again`);
  }

  async checkAborts() {
    if (this.running.size === 0) return;
    const { rows } = await this.pool.query(sql.JOBS_TO_ABORT, [this.workerId]);
    for (const { id } of rows) {
      const run = this.running.get(id);
      if (run && !run.controller.signal.aborted) {
        this.log(`job ${id}: abort requested`);
        run.controller.abort();
      }
    }
  }
}

// --- Main --------------------------------------------------------------------------

async function main() {
  const options = readOptions();
  // pg reads PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE itself.
  // A connection per running job, plus fetch/finish and the heartbeat.
  const pool = new pg.Pool({ max: options.concurrency + 2 });
  pool.on('error', (error) => console.log(`[node-worker] idle connection lost: ${error.message}`));
  const worker = new Worker({ pool, tasks, ...options });
  process.once('SIGTERM', () => worker.stop());
  process.once('SIGINT', () => worker.stop());
  try {
    await worker.run();
  } finally {
    await pool.end();
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`[node-worker] ${error.stack ?? error}`);
    process.exit(1);
  });
}

module.exports = { Worker, readOptions, outcomeOf, errorTypes };
