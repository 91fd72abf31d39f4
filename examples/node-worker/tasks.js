'use strict';
// The tasks this worker runs: task name -> async function (args, context).
// args is the job's JSON object; context is {job, pool, signal}: the fetched
// row (id, queue_name, task_name, attempts), the worker's pg.Pool, and an
// AbortSignal that fires when someone asks to abort the job.
// A task that returns succeeded; one that throws failed (retried if the
// job's retry policy says so); one that throws after its signal fired,
// aborted.

const { setTimeout: sleep } = require('node:timers/promises');
const sql = require('./sql');

class ExampleError extends Error {
  get name() {
    return 'ExampleError';
  }
}

const tasks = {
  // Records the run in example_runs (started, then ended). The first attempt
  // takes first_attempt_seconds; a retry, or a run after a rescue, is quick.
  async record_run({ first_attempt_seconds = 0 }, { job, pool, signal }) {
    const { rows } = await pool.query(sql.RUN_STARTED, [job.id, job.attempts, process.pid]);
    if (job.attempts === 0 && first_attempt_seconds > 0) {
      await sleep(first_attempt_seconds * 1000, undefined, { signal });
    }
    await pool.query(sql.RUN_ENDED, [rows[0].run_id]);
  },

  // Always fails: its error reaches the job as last_error and
  // last_error_types ["ExampleError", "Error"].
  async fail({ message = 'failed on purpose' }) {
    throw new ExampleError(message);
  },
};

module.exports = { tasks, ExampleError };
