// Benchmark adapter for graphile-worker (Node.js), the protocol of
// bench/systems/_common.py in JavaScript:
//
//     node bench/systems/graphile_peer.mjs ACTION --dsn "dbname=X" [options]
//
// graphile-worker and the Node.js that runs it come from the npm registry,
// pinned in bench/package.json + bench/package-lock.json and installed by
// scripts/install-bench-graphile.sh into .bench/graphile (BENCH_GRAPHILE_DIR).
// Only its public API: runMigrations(), run() with a task list,
// makeWorkerUtils() and its addJob / addJobs; and, to build the backlogs of
// the scale rows in one statement, its SQL function graphile_worker.add_jobs.
//
// BENCH_GRAPHILE_CONFIG chooses the worker's options:
//   defaults  graphile-worker's defaults (concurrency aside)
//   batched   the batching options of its performance test and docs
//             ("Performance": localQueue of 500 jobs, completeJobBatchDelay
//             and failJobBatchDelay 0, a pool of 25 connections)
// Both log warnings and errors only: its default logger writes a line per
// job, which would measure the terminal.
//
// Differences from the Python adapters, all said in bench/README.md:
//   - graphile-worker deletes a job when it succeeds: add-finished adds
//     nothing, and the worker's span (first start, last end, jobs run) is
//     taken in the worker process itself (node's clock, the same machine)
//     and returned by work, not read back from tables by span;
//   - a worker serves the task identifiers it knows, in every queue; a
//     graphile "queue" (queue_name) runs its jobs one at a time, which is what
//     a procrastinate lock does: the locks shapes use queue names;
//   - priority: smaller runs first (procrastinate: larger), so a probe of
//     priority P is added with priority -P.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const TASK = "noop";
const PROBE = "probe";
const WARMUP_PROBE = -1;
const WARMUP_PAUSE_MS = 300;
// How often a draining worker asks whether any job is left.
const DRAIN_POLL_MS = 50;

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, "..", "..");
const installDir = process.env.BENCH_GRAPHILE_DIR || path.join(root, ".bench", "graphile");
const requireThere = createRequire(path.join(installDir, "package.json"));
const CONFIG = process.env.BENCH_GRAPHILE_CONFIG || "defaults";
if (!["defaults", "batched"].includes(CONFIG)) {
  fail(`BENCH_GRAPHILE_CONFIG must be defaults or batched, got ${CONFIG}`);
}

function fail(message) {
  process.stderr.write(`graphile_peer: ${message}\n`);
  process.exit(1);
}

async function graphile() {
  const entry = requireThere.resolve("graphile-worker");
  return import(pathToFileURL(entry).href);
}

function pg() {
  return requireThere("pg");
}

function emit(result) {
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

function now() {
  // epoch seconds with sub-millisecond precision
  return (performance.timeOrigin + performance.now()) / 1000;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function vmHwmKb() {
  const m = /^VmHWM:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) : null;
}

function parseArgs(argv) {
  const args = {
    action: argv[0], dsn: "", n: 0, batchSize: 0, concurrency: 1, since: 0,
    interval: 0.05, shape: "", queues: "", priority: 0,
  };
  for (let k = 1; k < argv.length; k += 2) {
    const name = argv[k].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(name in args)) fail(`unknown option ${argv[k]}`);
    const value = argv[k + 1];
    args[name] = typeof args[name] === "number" ? Number(value) : value;
  }
  return args;
}

// libpq keyword DSN ("dbname=x") plus PGHOST/PGPORT/PGUSER: a URL for node-postgres.
function connectionString(dsn) {
  const params = Object.fromEntries(
    dsn.split(/\s+/).filter(Boolean).map((kv) => kv.split("=", 2)),
  );
  const host = params.host || process.env.PGHOST || "localhost";
  const port = params.port || process.env.PGPORT || "5432";
  const user = params.user || process.env.PGUSER || "postgres";
  const db = params.dbname || process.env.PGDATABASE || user;
  const password = process.env.PGPASSWORD ? `:${encodeURIComponent(process.env.PGPASSWORD)}` : "";
  return `postgres://${encodeURIComponent(user)}${password}@${host}:${port}/${encodeURIComponent(db)}`;
}

async function quietLogger() {
  const { Logger } = await graphile();
  return new Logger(() => (level, message) => {
    if (level === "error" || level === "warning") process.stderr.write(`${level}: ${message}\n`);
  });
}

async function sql(dsn, statements) {
  const client = new (pg().Client)({ connectionString: connectionString(dsn) });
  await client.connect();
  try {
    const results = [];
    for (const [text, values] of statements) results.push(await client.query(text, values));
    return results;
  } finally {
    await client.end();
  }
}

// --- actions -------------------------------------------------------------------

async function info() {
  const dir = path.join(installDir, "node_modules", "graphile-worker");
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  return {
    system: "graphile-worker",
    version: `${pkg.version} (${CONFIG}, node ${process.versions.node})`,
    module: dir,
  };
}

async function install(args) {
  const { runMigrations } = await graphile();
  await runMigrations({ connectionString: connectionString(args.dsn), logger: await quietLogger() });
  return {};
}

// graphile-worker deletes a job that succeeded: nothing to add.
async function addFinished() {
  return { n: 0 };
}

async function withUtils(dsn, fn) {
  const { makeWorkerUtils } = await graphile();
  const utils = await makeWorkerUtils({
    connectionString: connectionString(dsn), logger: await quietLogger(),
  });
  try {
    return await fn(utils);
  } finally {
    await utils.release();
  }
}

function spec(i) {
  return { identifier: TASK, payload: { i } };
}

async function enqueue(dsn, n, batchSize, warmUp) {
  return withUtils(dsn, async (utils) => {
    if (warmUp) await utils.addJob(TASK, { i: -1 }); // pool connected, statements ready
    const start = performance.now();
    if (batchSize <= 0) {
      for (let i = 0; i < n; i++) await utils.addJob(TASK, { i });
    } else {
      for (let first = 0; first < n; first += batchSize) {
        const specs = [];
        for (let i = first; i < Math.min(first + batchSize, n); i++) specs.push(spec(i));
        await utils.addJobs(specs);
      }
    }
    return (performance.now() - start) / 1000;
  });
}

async function defer(args) {
  return { n: args.n, seconds: await enqueue(args.dsn, args.n, args.batchSize, true) };
}

async function prefill(args) {
  await enqueue(args.dsn, args.n, 5000, false);
  return { n: args.n };
}

// One statement through graphile_worker.add_jobs (its public SQL API), then
// VACUUM ANALYZE. hot_lock also marks the first job of queue "hot" and the
// queue as locked by a worker that never ends it (graphile's private tables:
// what a running job looks like), so that the others wait behind it.
async function backlog(args) {
  const job = (identifier, queue, runAt) =>
    `select count(*) from graphile_worker.add_jobs(array(select row(${identifier}, ` +
    `json_build_object('i', g), ${queue}, ${runAt}, null, null, null, null)` +
    `::graphile_worker.job_spec from generate_series(1, $1::int) as g))`;
  const task = `'${TASK}'`;
  const shapes = {
    waiting: [job(task, "null", "null")],
    scheduled: [job(task, "null", "now() + interval '1 day'")],
    locks: [job(task, "'lock-' || mod(g, 1000)", "null")],
    hot_lock: [
      job(task, "'hot'", "null"),
      "update graphile_worker._private_jobs set locked_at = now(), locked_by = 'bench-holder', " +
        "attempts = 1 where id = (select min(id) from graphile_worker._private_jobs) and $1::int > 0",
      "update graphile_worker._private_job_queues set locked_at = now(), " +
        "locked_by = 'bench-holder' where queue_name = 'hot' and $1::int > 0",
    ],
    // a worker runs the task identifiers it knows: 199 it does not know
    queues: [job(`'${TASK}-other-' || mod(g, 199)`, "null", "null")],
  };
  const statements = shapes[args.shape];
  if (!statements) fail(`unknown backlog shape ${args.shape}`);
  // hot_lock: N + 1 jobs, the first one being the holder
  const n = args.shape === "hot_lock" ? args.n + 1 : args.n;
  await sql(args.dsn, [...statements.map((s) => [s, [n]]), ["vacuum analyze", []]]);
  return { n: args.n };
}

async function workerOptions(dsn, concurrency) {
  const options = {
    connectionString: connectionString(dsn),
    concurrency,
    noHandleSignals: true,
    logger: await quietLogger(),
  };
  if (CONFIG === "batched") {
    options.maxPoolSize = 25;
    options.preset = {
      worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    };
  }
  return options;
}

// Runs jobs until it has run args.n of them, or (args.n 0) until no job of
// its tasks is left to run; SIGTERM stops it gracefully. The span comes from
// the tasks themselves: graphile-worker keeps no row of a job that succeeded.
async function work(args) {
  const { run } = await graphile();
  let done = 0;
  let firstStart = null;
  let lastFinish = null;
  let stopping = null;
  let runner = null;
  const stop = () => {
    stopping ??= runner.stop();
    return stopping;
  };
  const taskList = {
    [TASK]: async () => {
      firstStart ??= now();
      done += 1;
      lastFinish = now();
      if (args.n && done >= args.n) stop();
    },
    [PROBE]: async () => {},
  };
  runner = await run({ ...(await workerOptions(args.dsn, args.concurrency)), taskList });
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  let poller = null;
  if (!args.n) {
    poller = (async () => {
      const client = new (pg().Client)({ connectionString: connectionString(args.dsn) });
      await client.connect();
      try {
        while (!stopping) {
          const { rows } = await client.query(
            "select exists (select from graphile_worker._private_jobs as j " +
              "join graphile_worker._private_tasks as t on t.id = j.task_id " +
              "where t.identifier = $1 and j.run_at <= now()) as left",
            [TASK],
          );
          if (!rows[0].left) {
            stop();
            break;
          }
          await sleep(DRAIN_POLL_MS);
        }
      } finally {
        await client.end();
      }
    })();
  }
  await runner.promise;
  if (poller) await poller;
  return {
    rss_kb: vmHwmKb(),
    span: { first_start: firstStart, last_finish: lastFinish, finished: done },
  };
}

// graphile-worker keeps no row of a job that succeeded: work returns the span.
async function span() {
  return null;
}

async function listen(args) {
  const { run } = await graphile();
  const taskList = {
    [TASK]: async () => {},
    [PROBE]: async (payload) => {
      process.stdout.write(`BENCH_JOB ${payload.i} ${now().toFixed(6)}\n`);
    },
  };
  const runner = await run({ ...(await workerOptions(args.dsn, 1)), taskList });
  let stopping = null;
  const stop = () => {
    stopping ??= runner.stop();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await runner.promise;
  return { rss_kb: vmHwmKb() };
}

async function produce(args) {
  return withUtils(args.dsn, async (utils) => {
    const returned = [];
    await utils.addJob(PROBE, { i: WARMUP_PROBE }, { priority: -args.priority });
    await sleep(WARMUP_PAUSE_MS);
    const start = now();
    for (let i = 0; i < args.n; i++) {
      const delay = (start + i * args.interval - now()) * 1000;
      if (delay > 0) await sleep(delay);
      await utils.addJob(PROBE, { i }, { priority: -args.priority });
      returned.push(now());
    }
    return { returned };
  });
}

const ACTIONS = {
  info,
  install,
  "add-finished": addFinished,
  defer,
  prefill,
  backlog,
  work,
  span,
  listen,
  produce,
};

const args = parseArgs(process.argv.slice(2));
const action = ACTIONS[args.action];
if (!action) {
  process.stderr.write(`unsupported action ${args.action}\n`);
  process.exit(3);
}
try {
  const result = await action(args);
  if (result !== null && result !== undefined) emit(result);
  process.exit(0);
} catch (err) {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}
