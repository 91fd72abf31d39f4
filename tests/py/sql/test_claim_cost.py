"""The cost of a claim does not grow with the backlog (issue 13).

Each shape puts 200,000 waiting jobs in the table (one INSERT ... SELECT
generate_series), then claims 100 jobs with auto_explain logging the plan of
every statement run inside procrastinate_fetch_jobs_v2, as JSON with the rows
each node produced (EXPLAIN ANALYZE without timings). The checks are about
the plan, never about time:

- no sequential or bitmap scan of procrastinate_jobs, no JIT;
- the rows read from procrastinate_jobs (returned plus removed by a filter,
  over all loops of all statements), plus the pairs a join compared and
  threw away, stay within a bound that depends on the limit, not on the
  200,000 waiting jobs (nor on the running ones);
- no Sort over more rows than that bound.

Each shape runs twice: on statistics that say the table is empty (as after
a quick fill, before autoanalyze) and after ANALYZE, so that the plans do not
depend on the statistics being fresh.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import psycopg.sql
import pytest

BACKLOG = 200_000
LIMIT = 100
# rows of procrastinate_jobs one claim of 100 may read: the candidate walks
# (a few hundred rows), two or three index probes per locked candidate, the
# update. The backlog is 200,000.
MAX_ROWS_READ = 30 * LIMIT

# Each shape: the SQL that fills the table (jobs of the backlog first, so
# that they come first in id order), the arguments of the claim, and how
# many jobs it must claim.
SHAPES = {
    "no queue filter": (
        """
        insert into procrastinate_jobs (queue_name, task_name)
        select 'default', 't' from generate_series(1, {n});
        """,
        "null",
        LIMIT,
    ),
    "one queue": (
        """
        insert into procrastinate_jobs (queue_name, task_name)
        select 'default', 't' from generate_series(1, {n});
        """,
        "array['default']",
        LIMIT,
    ),
    "several queues": (
        """
        insert into procrastinate_jobs (queue_name, task_name)
        select 'q' || (i % 3), 't' from generate_series(1, {n}) as i;
        """,
        "array['q0', 'q2']",
        LIMIT,
    ),
    "200 queues, one served": (
        """
        insert into procrastinate_jobs (queue_name, task_name)
        select 'q' || (i % 200), 't' from generate_series(1, {n}) as i;
        """,
        "array['q7']",
        LIMIT,
    ),
    "a paused queue holding the backlog": (
        """
        insert into procrastinate_jobs (queue_name, task_name)
        select 'paused', 't' from generate_series(1, {n});
        insert into procrastinate_jobs (queue_name, task_name)
        select 'open', 't' from generate_series(1, 1000);
        insert into procrastinate_paused_queues (queue_name) values ('paused');
        """,
        "null",
        LIMIT,
    ),
    "a paused queue, the worker names its queues": (
        """
        insert into procrastinate_jobs (queue_name, task_name)
        select 'paused', 't' from generate_series(1, {n});
        insert into procrastinate_jobs (queue_name, task_name)
        select 'open', 't' from generate_series(1, 1000);
        insert into procrastinate_paused_queues (queue_name) values ('paused');
        """,
        "array['paused', 'open']",
        LIMIT,
    ),
    "1,000 locks, 100 of them running": (
        """
        insert into procrastinate_jobs (queue_name, task_name, lock, status, worker_id)
        select 'default', 't', 'lock-' || i, 'doing', 1 from generate_series(1, 100) as i;
        insert into procrastinate_jobs (queue_name, task_name, lock)
        select 'default', 't', 'lock-' || (i % 1000) from generate_series(1, {n}) as i;
        """,
        "null",
        LIMIT,
    ),
    "one busy lock with the backlog behind it": (
        """
        insert into procrastinate_jobs (queue_name, task_name, lock, status, worker_id)
        values ('default', 't', 'hot', 'doing', 1);
        insert into procrastinate_jobs (queue_name, task_name, lock)
        select 'default', 't', 'hot' from generate_series(1, {n});
        insert into procrastinate_jobs (queue_name, task_name, lock)
        select 'default', 't', 'cold-' || (i % 100) from generate_series(1, 1000) as i;
        """,
        "null",
        LIMIT,
    ),
    "one busy lock, with a queue filter": (
        """
        insert into procrastinate_jobs (queue_name, task_name, lock, status, worker_id)
        values ('default', 't', 'hot', 'doing', 1);
        insert into procrastinate_jobs (queue_name, task_name, lock)
        select 'default', 't', 'hot' from generate_series(1, {n});
        insert into procrastinate_jobs (queue_name, task_name)
        select 'default', 't' from generate_series(1, 1000);
        """,
        "array['default']",
        LIMIT,
    ),
    "jobs scheduled for later": (
        """
        insert into procrastinate_jobs (queue_name, task_name, scheduled_at)
        select 'default', 't', now() + interval '1 day' from generate_series(1, {n});
        insert into procrastinate_jobs (queue_name, task_name)
        select 'default', 't' from generate_series(1, 1000);
        """,
        "null",
        LIMIT,
    ),
    "jobs scheduled for later, with a queue filter": (
        """
        insert into procrastinate_jobs (queue_name, task_name, scheduled_at, lock)
        select 'default', 't', now() + interval '1 day', 'l' || (i % 10)
        from generate_series(1, {n}) as i;
        insert into procrastinate_jobs (queue_name, task_name)
        select 'default', 't' from generate_series(1, 1000);
        """,
        "array['default']",
        LIMIT,
    ),
    "scheduled jobs all due": (
        """
        insert into procrastinate_jobs (queue_name, task_name, scheduled_at)
        select 'default', 't', now() - interval '1 hour' from generate_series(1, {n});
        """,
        "null",
        LIMIT,
    ),
    "many priorities": (
        """
        insert into procrastinate_jobs (queue_name, task_name, priority)
        select 'default', 't', i % 1000 from generate_series(1, {n}) as i;
        """,
        "array['default']",
        LIMIT,
    ),
}


@pytest.fixture(scope="module")
def backlog_db(template_db):
    """One database for the module; each test empties and refills it."""
    name = f"claim_cost_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("create database {} template {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(template_db)
            )
        )
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("drop database if exists {} with (force)").format(
                psycopg.sql.Identifier(name)
            )
        )


def claim_plans(conn: psycopg.Connection, queues: str) -> tuple[int, list[dict]]:
    """Claims LIMIT jobs (rolled back) and returns how many were claimed and
    the JSON plan of every statement the claim ran."""
    return explained(
        conn, f"select count(*) from procrastinate_fetch_jobs_v2(null, {queues}, {LIMIT})"
    )


def explained(conn: psycopg.Connection, query: str) -> tuple[int, list[dict]]:
    """Runs query (rolled back) and returns its one value and the JSON plan
    of every statement it ran."""
    plans: list[dict] = []

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        message = diag.message_primary or ""
        if "plan:" in message and "{" in message:
            plans.append(json.loads(message[message.index("{") :]))

    conn.add_notice_handler(on_notice)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("load 'auto_explain'")
            for setting, value in (
                ("auto_explain.log_min_duration", "0"),
                ("auto_explain.log_analyze", "on"),
                ("auto_explain.log_timing", "off"),
                ("auto_explain.log_nested_statements", "on"),
                ("auto_explain.log_format", "json"),
                ("auto_explain.log_level", "notice"),
                ("client_min_messages", "notice"),
            ):
                conn.execute("select set_config(%s, %s, true)", (setting, value))
            claimed = conn.execute(query).fetchone()[0]
            conn.execute("select set_config('auto_explain.log_min_duration', '-1', true)")
    finally:
        conn.remove_notice_handler(on_notice)
    return claimed, plans


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def describe(plans: list[dict]) -> str:
    """One line per plan node: type, index, rows returned and filtered out."""
    lines = []

    def walk(node: dict, depth: int) -> None:
        lines.append(
            "  " * depth
            + f"{node['Node Type']} {node.get('Index Name', node.get('Relation Name', ''))}"
            + f" rows={node.get('Actual Rows')} loops={node.get('Actual Loops')}"
            + f" removed={node.get('Rows Removed by Filter', 0)}"
        )
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    for plan in plans:
        lines.append(" ".join(plan.get("Query Text", "").split())[:160])
        walk(plan["Plan"], 1)
    return "\n".join(lines)


def check(plans: list[dict], caller: str = "procrastinate_fetch_jobs_v2(") -> None:
    # the function's own call is logged last: its plan is one Function Scan
    inner = [p for p in plans if caller not in p.get("Query Text", "")]
    assert inner, "auto_explain logged no statement of the claim"
    rows_read = 0
    for plan in inner:
        assert "JIT" not in plan, f"JIT in a claim statement:\n{describe([plan])}"
        for node in nodes(plan["Plan"]):
            kind = node["Node Type"]
            relation = node.get("Relation Name")
            if relation == "procrastinate_jobs":
                assert kind in ("Index Scan", "Index Only Scan", "ModifyTable"), (
                    f"{kind} on procrastinate_jobs:\n{describe([plan])}"
                )
                if kind != "ModifyTable":
                    loops = node.get("Actual Loops", 1)
                    rows_read += (
                        node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                    ) * loops
            # a join that compares every row of one side with every row of
            # the other (a NOT EXISTS made a join over all running jobs)
            rows_read += node.get("Rows Removed by Join Filter", 0) * node.get("Actual Loops", 1)
            if kind == "Sort":
                sorted_rows = node["Actual Rows"] * node.get("Actual Loops", 1)
                assert sorted_rows <= MAX_ROWS_READ, (
                    f"a Sort of {sorted_rows} rows:\n{describe([plan])}"
                )
    assert rows_read <= MAX_ROWS_READ, (
        f"the claim read {rows_read} rows of procrastinate_jobs:\n{describe(inner)}"
    )


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_claim_reads_rows_in_proportion_to_its_limit_not_to_the_backlog(
    backlog_db, shape
):
    fill, queues, expected = SHAPES[shape]
    with psycopg.connect(dbname=backlog_db, autocommit=True) as conn:
        conn.execute(
            "truncate procrastinate_jobs, procrastinate_periodic_defers, procrastinate_events,"
            " procrastinate_paused_queues"
        )
        # statistics of an empty table: the state a queue is often in when a
        # backlog builds up faster than autoanalyze runs
        conn.execute("analyze procrastinate_jobs")
        with conn.transaction():
            # the fill is not what is measured: no event or notify triggers
            conn.execute("set local session_replication_role = replica")
            conn.execute(fill.format(n=BACKLOG))

        for statistics in ("stale", "fresh"):
            if statistics == "fresh":
                conn.execute("analyze procrastinate_jobs")
            claimed, plans = claim_plans(conn, queues)
            assert claimed == expected, f"{statistics} statistics"
            check(plans)


def test_a_defer_checks_its_queueing_lock_without_reading_the_other_waiting_jobs(backlog_db):
    with psycopg.connect(dbname=backlog_db, autocommit=True) as conn:
        conn.execute(
            "truncate procrastinate_jobs, procrastinate_periodic_defers, procrastinate_events, "
            "procrastinate_paused_queues"
        )
        conn.execute("analyze procrastinate_jobs")
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")
            conn.execute(
                "insert into procrastinate_jobs (queue_name, task_name, queueing_lock) "
                "select 'default', 't', 'ql-' || i from generate_series(1, %s) as i",
                (BACKLOG,),
            )
        for statistics in ("stale", "fresh"):
            if statistics == "fresh":
                conn.execute("analyze procrastinate_jobs")
            batch = json.dumps(
                [
                    {"task_name": "t", "queueing_lock": f"free-{statistics}"},
                    {"task_name": "t", "queueing_lock": f"another-{statistics}"},
                ]
            )
            deferred, plans = explained(
                conn, f"select count(*) from procrastinate_defer_jobs_v2('{batch}')"
            )
            assert deferred == 2
            check(plans, caller="procrastinate_defer_jobs_v2(")


def test_finishing_a_lock_holder_does_not_read_the_jobs_waiting_for_its_lock(backlog_db):
    """The notification of the next job of a released lock looks that job up,
    not every job of the lock."""
    with psycopg.connect(dbname=backlog_db, autocommit=True) as conn:
        conn.execute(
            "truncate procrastinate_jobs, procrastinate_periodic_defers, procrastinate_events, "
            "procrastinate_paused_queues"
        )
        conn.execute("analyze procrastinate_jobs")
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")
            holder = conn.execute(
                "insert into procrastinate_jobs (queue_name, task_name, lock, status) "
                "values ('default', 't', 'hot', 'doing') returning id"
            ).fetchone()[0]
            conn.execute(
                "insert into procrastinate_jobs (queue_name, task_name, lock) "
                "select 'default', 't', 'hot' from generate_series(1, %s)",
                (BACKLOG,),
            )
        for statistics in ("stale", "fresh"):
            if statistics == "fresh":
                conn.execute("analyze procrastinate_jobs")
            outcome = json.dumps([{"id": holder, "attempt": 0, "status": "succeeded"}])
            finished, plans = explained(
                conn,
                "select count(*) filter (where accepted) "
                f"from procrastinate_finish_jobs_v1(null, '{outcome}')",
            )
            assert finished == 1
            check(plans, caller="procrastinate_finish_jobs_v1(")


def test_finishing_the_holders_of_many_locks_of_one_queue_probes_one_lock(backlog_db):
    """A worker reporting the jobs of a hundred locks whose waiting jobs are
    all in one queue looks up the next job of one lock for its notification,
    not of each."""
    holders = 100
    with psycopg.connect(dbname=backlog_db, autocommit=True) as conn:
        conn.execute(
            "truncate procrastinate_jobs, procrastinate_periodic_defers, procrastinate_events, "
            "procrastinate_paused_queues"
        )
        conn.execute("analyze procrastinate_jobs")
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")
            ids = [
                r[0]
                for r in conn.execute(
                    "insert into procrastinate_jobs (queue_name, task_name, lock, status) "
                    "select 'default', 't', 'lock-' || i, 'doing' "
                    "from generate_series(1, %s) as i returning id",
                    (holders,),
                )
            ]
            conn.execute(
                "insert into procrastinate_jobs (queue_name, task_name, lock) "
                "select 'default', 't', 'lock-' || (i %% %s + 1) from generate_series(1, %s) as i",
                (holders, BACKLOG),
            )
        for statistics in ("stale", "fresh"):
            if statistics == "fresh":
                conn.execute("analyze procrastinate_jobs")
            outcomes = json.dumps([{"id": i, "attempt": 0, "status": "succeeded"} for i in ids])
            finished, plans = explained(
                conn,
                "select count(*) filter (where accepted) "
                f"from procrastinate_finish_jobs_v1(null, '{outcomes}')",
            )
            assert finished == holders
            check(plans, caller="procrastinate_finish_jobs_v1(")
            probes = sum(
                node.get("Actual Loops", 1)
                for plan in plans
                for node in nodes(plan["Plan"])
                if node.get("Index Name") == "procrastinate_jobs_lock_order_idx_v2"
            )
            assert 1 <= probes <= 2, f"{probes} probes of the next job of a lock ({statistics})"
