'use strict';
// Defers a job from Node.js: one call of the user-facing SQL function
// procrastinate_defer_job. Any worker listening on the job's queue runs it,
// whatever its language.
//
//   node defer.js TASK_NAME ['{"json": "args"}'] [--queue=NAME]
//
// prints the new job's id. Connects with PGHOST, PGPORT, PGUSER, PGDATABASE.

const { parseArgs } = require('node:util');
const pg = require('pg');
const sql = require('./sql');

// Defers one job through `client` (a pg.Client, a pg.Pool, or the client of
// your own transaction: the job then exists only if that transaction
// commits). Returns its id, as a string (a bigint).
async function deferJob(client, taskName, args = {}, { queue = 'default' } = {}) {
  const { rows } = await client.query(sql.DEFER_JOB, [taskName, JSON.stringify(args), queue]);
  return rows[0].id;
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { queue: { type: 'string', default: 'default' } },
    allowPositionals: true,
  });
  const [taskName, argsText = '{}'] = positionals;
  if (!taskName || positionals.length > 2) {
    throw new Error('usage: node defer.js TASK_NAME [\'{"json": "args"}\'] [--queue=NAME]');
  }
  const client = new pg.Client();
  await client.connect();
  try {
    console.log(await deferJob(client, taskName, JSON.parse(argsText), { queue: values.queue }));
  } finally {
    await client.end();
  }
}

if (require.main === module) {
  main().catch((error) => {
    // A refused job carries a SQLSTATE of its own: PT001 (invalid), PT002 (queueing lock taken).
    console.error(`defer: ${error.message}${error.code ? ` (SQLSTATE ${error.code})` : ''}`);
    process.exit(1);
  });
}

module.exports = { deferJob };
