#!/usr/bin/env bash
# `make demo`: runs with the private throwaway cluster of
# scripts/with-private-pg.sh in the PG* environment. Installs the schema in a
# fresh database, defers jobs from Python and one with plain SQL through psql,
# runs a worker until the queue is empty, and shows what ran.
set -euo pipefail
cd "$(dirname "$0")/.."

db=procrastinate_demo
psql -X -q -d postgres -c "drop database if exists $db" -c "create database $db"
export PGDATABASE=$db DEMO_DSN="dbname=$db"
export PYTHONPATH="$PWD/demo${PYTHONPATH:+:$PYTHONPATH}"
venv=${DEMO_VENV:-.venv}
procrastinate=$venv/bin/procrastinate

echo "== 1. install the schema (procrastinate schema --apply)"
"$procrastinate" --app=demo_app.app schema --apply

echo
echo "== 2. defer jobs from Python"
"$venv/bin/python" -c "import demo_app; demo_app.defer_from_python()"

echo
echo "== 3. defer a job with plain SQL, as any client can"
psql -X -q -d "$db" -c "select procrastinate_defer_job('sum_task', '{\"a\": 40, \"b\": 2}') as deferred_from_psql"

echo
echo "== 4. run a worker until the queue is empty (procrastinate worker --one-shot)"
"$procrastinate" --app=demo_app.app worker --one-shot --concurrency=4

echo
echo "== 5. what happened, from psql"
psql -X -d "$db" -c "select id, task_name, args, status, attempts from procrastinate_jobs order by id"
psql -X -d "$db" -c "select job_id, type, at from procrastinate_events order by id"
psql -X -d "$db" -c "select queue_name, todo, doing, succeeded, failed from procrastinate_queue_stats"

left=$(psql -X -At -d "$db" -c "select count(*) from procrastinate_jobs where status <> 'succeeded'")
if [[ $left != 0 ]]; then
    echo "demo: $left job(s) did not succeed" >&2
    exit 1
fi
echo "demo: every job succeeded (the flaky one on its retry; the two locked reports one after the other)"
