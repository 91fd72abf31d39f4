"""Attacks on the SQL contract, made as the roles of sql/optional/roles.sql
would make them: real login roles on a real server, each test written as
the attack was first tried (docs/security.md says what each role may do).

- A caller's temporary table, view or sequence named like one of ours must
  never be what a SECURITY DEFINER function reads or writes (PostgreSQL
  searches pg_temp first for relations unless a function's search_path names
  it last); nor may a function or operator planted in pg_temp or in public.
- Limits a caller must not change (the size and depth of args) cannot be
  changed by SET.
- A worker login reaches the tables only through functions, which fence it
  to its own worker and refuse a pinned clock.
- A producer learns nothing of other producers' jobs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import psycopg.rows
import pytest

#: Every table, view and sequence a function of ours may name.
SHADOWED = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_workers",
    "procrastinate_periodic_defers",
    "procrastinate_paused_queues",
    "procrastinate_settings",
    "procrastinate_migrations",
    "procrastinate_stalled_jobs",
)


@pytest.fixture
def logins(db, db_dsn, apply_roles_sql) -> Iterator[dict[str, str]]:
    """Login roles of each group role (two producers, two workers, an
    operator), with sql/optional/roles.sql applied: {kind: role name}."""
    apply_roles_sql()
    suffix = uuid.uuid4().hex[:8]
    groups = {
        "producer": "producer",
        "other_producer": "producer",
        "worker": "worker",
        "other_worker": "worker",
        "operator": "operator",
    }
    names = {kind: f"{kind}_{suffix}" for kind in groups}
    for kind, group in groups.items():
        db.execute(f"create role {names[kind]} login in role procrastinate_{group}")
    yield names
    for name in names.values():
        # what an attacker's session left in pg_temp, should it still be there
        db.execute(f"drop owned by {name}")
        db.execute(f"drop role {name}")


def connect(db_dsn: str, role: str) -> psycopg.Connection:
    return psycopg.connect(
        f"{db_dsn} user={role}", autocommit=True, row_factory=psycopg.rows.dict_row
    )


def is_superuser(db, role: str) -> bool:
    return db.execute(
        "select rolsuper from pg_roles where rolname = %s", [role]
    ).fetchone()["rolsuper"]


# What an attacker's session plants before calling our functions: code that
# makes the calling role superuser when it runs as the owner of the schema.
PLANT_CODE = """
create function pg_temp.pwn() returns trigger language plpgsql as $$
begin
    execute format('alter role %I superuser', session_user);
    return null;
end;
$$;
create function pg_temp.pwned() returns boolean language plpgsql as $$
begin
    execute format('alter role %I superuser', session_user);
    return true;
end;
$$;
create function pg_temp.pwned_eq(text, text) returns boolean language plpgsql as $$
begin
    execute format('alter role %I superuser', session_user);
    return $1 operator(pg_catalog.=) $2;
end;
$$;
create operator pg_temp.= (leftarg = text, rightarg = text, function = pg_temp.pwned_eq);
"""

def _columns(conn: psycopg.Connection, name: str) -> str:
    """The column list of our relation ``name``, read from the catalog (which
    any role may read), to build a look-alike."""
    return conn.execute(
        "select string_agg(format('%%I %%s', a.attname,"
        " format_type(a.atttypid, a.atttypmod)), ', ' order by a.attnum) as columns"
        " from pg_attribute as a"
        " where a.attrelid = to_regclass('public.' || %s) and a.attnum > 0"
        " and not a.attisdropped",
        [name],
    ).fetchone()["columns"]


def plant(conn: psycopg.Connection, shadow: str) -> None:
    """Shadow every relation of ours with a temporary one that runs the
    attacker's code: a table whose triggers fire on any write, or a view
    whose rows call it."""
    conn.execute(PLANT_CODE)
    for name in SHADOWED:
        columns = _columns(conn, name)
        if columns is None:
            continue  # not in this schema
        if shadow == "table":
            conn.execute(f"create temp table {name} ({columns})")
            conn.execute(f"insert into pg_temp.{name} default values")
            conn.execute(
                f"create trigger pwn before insert or update or delete on pg_temp.{name}"
                " for each statement execute function pg_temp.pwn()"
            )
        else:
            conn.execute(f"create temp table {name}_rows ({columns})")
            conn.execute(f"insert into pg_temp.{name}_rows default values")
            conn.execute(
                f"create temp view {name} as select * from pg_temp.{name}_rows"
                " where pg_temp.pwned()"
            )
    # The id sequence too: ids would come from the attacker's numbers.
    conn.execute("create temp sequence procrastinate_jobs_id_seq start 900000000")


@pytest.mark.parametrize("shadow", ["table", "view"])
def test_a_producer_shadowing_our_tables_does_not_become_superuser(
    logins, db, db_dsn, shadow
):
    """The attack as first made: a producer login shadows procrastinate_jobs
    in pg_temp, then defers a job and reads a status (the two functions a
    producer may call, which run as the owner)."""
    own = db.execute("select procrastinate_defer_job('mine', '{}') as id").fetchone()["id"]
    with connect(db_dsn, logins["producer"]) as attacker:
        plant(attacker, shadow)
        new_id = attacker.execute("select procrastinate_defer_job('x', '{}') as id").fetchone()[
            "id"
        ]
        with pytest.raises(psycopg.Error):
            attacker.execute("select procrastinate_get_job_status(%s)", [own])

    assert not is_superuser(db, logins["producer"])
    # The job went into our table, with an id of our sequence.
    assert new_id < 900000000
    row = db.execute("select task_name from procrastinate_jobs where id = %s", [new_id]).fetchone()
    assert row == {"task_name": "x"}


# One call of every SECURITY DEFINER function, made by an operator login (which
# may call them all). {job}: a job of the owner's, {worker}: the attacker's
# worker, {token}: a claim token.
DEFINER_CALLS = {
    "procrastinate_applied_migrations_v1": "select * from procrastinate_applied_migrations_v1()",
    "procrastinate_defer_jobs_v2": (
        "select * from procrastinate_defer_jobs_v2("
        "'[{{\"task_name\": \"x\", \"queueing_lock\": \"q\", \"scheduled_at\": \"2030-01-01\"}}]')"
    ),
    "procrastinate_fetch_jobs_v5": (
        "select * from procrastinate_fetch_jobs_v5({worker}, array['default'], 5, '{token}', true)"
    ),
    "procrastinate_register_limits_v1": (
        "select procrastinate_register_limits_v1('{{\"task\": {{\"victim\": 1}}}}')"
    ),
    "procrastinate_register_limits_v2": (
        "select procrastinate_register_limits_v2("
        "'{{\"task\": {{\"victim\": {{\"rate\": 5, \"per\": 60}}}}}}')"
    ),
    "procrastinate_limit_wait_v1": "select * from procrastinate_limit_wait_v1(null)",
    "procrastinate_set_limit": (
        "select procrastinate_set_limit(queue_name => 'default', concurrency => 3)"
    ),
    "procrastinate_remove_limit": "select procrastinate_remove_limit(queue_name => 'default')",
    "procrastinate_job_results_v1": (
        "select * from procrastinate_job_results_v1(array[{job}]::bigint[])"
    ),
    "procrastinate_finish_jobs_v1": (
        "select * from procrastinate_finish_jobs_v1({worker}, "
        "'[{{\"id\": {job}, \"status\": \"failed\", \"policy\": {{\"max_attempts\": 2}}}}]')"
    ),
    "procrastinate_defer_periodic_job_v1": (
        "select procrastinate_defer_periodic_job_v1('t', 'p', 1, '{{\"task_name\": \"t\"}}')"
    ),
    "procrastinate_last_periodic_ticks_v1": "select * from procrastinate_last_periodic_ticks_v1()",
    "procrastinate_cancel_job_v1": "select procrastinate_cancel_job_v1({job}, true, false, null)",
    "procrastinate_retry_job_v1": (
        "select procrastinate_retry_job_v1({job}, null, null, null, null, null)"
    ),
    "procrastinate_get_job_status_v1": "select procrastinate_get_job_status_v1({job})",
    "procrastinate_list_jobs_v1": "select * from procrastinate_list_jobs_v1(p_silent_for => 1)",
    "procrastinate_job_counts_v1": "select * from procrastinate_job_counts_v1('lock')",
    "procrastinate_register_worker_v2": (
        "select procrastinate_register_worker_v2('w', null, 1, 'h', 1)"
    ),
    "procrastinate_heartbeat_v2": "select procrastinate_heartbeat_v2({worker})",
    "procrastinate_unregister_worker_v2": "select procrastinate_unregister_worker_v2({worker})",
    "procrastinate_release_jobs_v2": (
        "select * from procrastinate_release_jobs_v2({worker}, array[{job}]::bigint[])"
    ),
    "procrastinate_jobs_to_abort_v1": "select * from procrastinate_jobs_to_abort_v1({worker})",
    "procrastinate_reconcile_held_jobs_v1": (
        "select * from procrastinate_reconcile_held_jobs_v1({worker}, array[]::bigint[])"
    ),
    "procrastinate_rescue_stalled_jobs_v2": (
        "select * from procrastinate_rescue_stalled_jobs_v2(null)"
    ),
    "procrastinate_retry_failed_jobs": "select procrastinate_retry_failed_jobs()",
    "procrastinate_why_waiting": "select * from procrastinate_why_waiting('default')",
    "procrastinate_cancel_jobs": "select procrastinate_cancel_jobs('default', null)",
    "procrastinate_pause_queue_v1": "select procrastinate_pause_queue_v1('default')",
    "procrastinate_resume_queue_v1": "select procrastinate_resume_queue_v1('default')",
    "procrastinate_dashboard_job_v1": "select * from procrastinate_dashboard_job_v1({job})",
    "procrastinate_dashboard_jobs_v2": (
        "select * from procrastinate_dashboard_jobs_v2(p_args => '{{\"a\": 1}}', "
        "p_created_from => now() - interval '1 day')"
    ),
    "procrastinate_dashboard_id_bounds_v1": (
        "select * from procrastinate_dashboard_id_bounds_v1(now() - interval '1 day', now())"
    ),
    "procrastinate_dashboard_throughput_v1": (
        "select * from procrastinate_dashboard_throughput_v1(interval '1 day', 96)"
    ),
    "procrastinate_dashboard_workers_v1": "select * from procrastinate_dashboard_workers_v1()",
    "procrastinate_failure_groups_v1": "select * from procrastinate_failure_groups_v1()",
    "procrastinate_retry_failure_group_v1": (
        "select procrastinate_retry_failure_group_v1('victim', null)"
    ),
    "procrastinate_remove_old_jobs_v1": (
        "select procrastinate_remove_old_jobs_v1(0, null, array['succeeded', 'failed'])"
    ),
}


def definer_functions(db) -> set[str]:
    rows = db.execute(
        "select p.proname from pg_proc as p"
        " where p.prosecdef and p.pronamespace = 'public'::regnamespace"
        " and p.proname ~ '^_?procrastinate_'"
    ).fetchall()
    return {row["proname"] for row in rows}


def test_every_security_definer_function_is_attacked_below(db):
    assert definer_functions(db) == set(DEFINER_CALLS)


@pytest.mark.parametrize("shadow", ["table", "view"])
def test_no_security_definer_function_runs_a_callers_shadow(logins, db, db_dsn, shadow):
    job = db.execute("select procrastinate_defer_job('victim', '{}') as id").fetchone()["id"]
    escalated_by = []
    with connect(db_dsn, logins["operator"]) as attacker:
        worker = attacker.execute(
            "select procrastinate_register_worker_v2('attacker', null, 1, 'h', 1) as id"
        ).fetchone()["id"]
        attacker.execute("select * from procrastinate_fetch_jobs_v2(%s, null, 1)", [worker])
        plant(attacker, shadow)
        for name, call in DEFINER_CALLS.items():
            sql = call.format(job=job, worker=worker, token=uuid.uuid4())
            try:
                attacker.execute(sql).fetchall()
            except psycopg.Error:
                pass  # refusing is fine; running the attacker's code is not
            if is_superuser(db, logins["operator"]):
                escalated_by.append(name)
                db.execute(f"alter role {logins['operator']} nosuperuser")
    assert escalated_by == []
    assert db.execute("select max(id) as m from procrastinate_jobs").fetchone()["m"] < 900000000


def test_roles_sql_takes_create_on_public_away(logins, db, db_dsn, apply_roles_sql):
    """A caller able to create in public could plant an operator that our
    functions would pick over pg_catalog's: roles.sql revokes that right
    (PostgreSQL 14 and older grant it to everyone)."""
    db.execute("grant create on schema public to public")
    apply_roles_sql()
    with connect(db_dsn, logins["producer"]) as attacker:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            attacker.execute(
                "create function public.procrastinate_x() returns int language sql as 'select 1'"
            )


@pytest.mark.parametrize(
    "setting", ["procrastinate.max_args_depth", "procrastinate.max_args_bytes"]
)
def test_a_producer_cannot_raise_the_args_limits_with_set(logins, db, db_dsn, setting):
    deep = '{"a": ' * 5000 + "{}" + "}" * 5000
    big = json.dumps({"blob": "x" * 11_000_000})
    args = deep if setting.endswith("depth") else big
    with connect(db_dsn, logins["producer"]) as attacker:
        attacker.execute(f"set {setting} = 1000000000")
        with pytest.raises(psycopg.Error) as info:
            attacker.execute("select procrastinate_defer_job('x', %s::jsonb)", [args])
        assert info.value.sqlstate == "PT001"
        # Nor can it change the table that holds the limits.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            attacker.execute("update procrastinate_settings set max_args_depth = 500")
    assert db.execute("select count(*) as n from procrastinate_jobs").fetchone()["n"] == 0


def test_a_worker_login_reaches_the_tables_only_through_functions(logins, db, db_dsn):
    victim = db.execute("select procrastinate_defer_job('victim', '{}') as id").fetchone()["id"]
    with connect(db_dsn, logins["other_worker"]) as honest:
        other = honest.execute(
            "select procrastinate_register_worker_v2('honest', null, 1, 'h', 1) as id"
        ).fetchone()["id"]
        honest.execute("select * from procrastinate_fetch_jobs_v2(%s, null, 1)", [other])
    before = db.execute("table procrastinate_jobs").fetchall()

    with connect(db_dsn, logins["worker"]) as attacker:
        mine = attacker.execute(
            "select procrastinate_register_worker_v2('attacker', null, 1, 'h', 1) as id"
        ).fetchone()["id"]
        denied = [
            # rewrite another job into the retention task
            "update procrastinate_jobs set task_name ="
            " 'builtin:procrastinate.builtin_tasks.remove_old_jobs',"
            " args = '{\"max_hours\": 0}'",
            "delete from procrastinate_events",
            "insert into procrastinate_events (job_id, type) values (1, 'succeeded')",
            "update procrastinate_workers set last_heartbeat = '2000-01-01'",
            # backdate another worker's heartbeat through the function
            f"select procrastinate_heartbeat_v2({other}, '2000-01-01')",
            f"select procrastinate_heartbeat_v2({other})",
            # report or give back the other worker's job
            f"select * from procrastinate_finish_jobs_v1({other},"
            f" '[{{\"id\": {victim}, \"status\": \"succeeded\"}}]')",
            f"select * from procrastinate_release_jobs_v2({other}, array[{victim}]::bigint[])",
            f"select procrastinate_unregister_worker_v2({other})",
            # take the other worker's job back, as if that worker had forgotten it
            f"select * from procrastinate_reconcile_held_jobs_v1({other}, array[]::bigint[])",
            f"select * from procrastinate_reconcile_held_jobs_v1({mine}, '{{}}', '2100-01-01')",
            # move its own clock to rescue the live worker's job early
            f"select * from procrastinate_rescue_stalled_jobs_v2({mine}, now() + interval '1 day')",
            "select * from procrastinate_rescue_stalled_jobs_v2(null)",
            f"select * from procrastinate_fetch_jobs_v2({mine}, null, 1, p_now => '2100-01-01')",
        ]
        allowed = []
        for sql in denied:
            try:
                attacker.execute(sql)
            except psycopg.errors.InsufficientPrivilege:
                continue
            allowed.append(sql)
    assert allowed == []
    assert db.execute("table procrastinate_jobs").fetchall() == before
    assert db.execute(
        "select count(*) as n from procrastinate_events where job_id = %s", [victim]
    ).fetchone()["n"] == 2  # deferred, started


def test_a_producer_learns_nothing_of_other_producers_jobs(logins, db, db_dsn):
    with connect(db_dsn, logins["other_producer"]) as other:
        theirs = other.execute(
            "select procrastinate_defer_job('t', '{}', queueing_lock => 'shared') as id"
        ).fetchone()["id"]
    with connect(db_dsn, logins["producer"]) as producer:
        mine = producer.execute("select procrastinate_defer_job('t', '{}') as id").fetchone()["id"]
        assert producer.execute(
            "select procrastinate_get_job_status(%s)::text as s", [mine]
        ).fetchone() == {"s": "todo"}
        # Another producer's job reads as unknown, exactly like a missing one.
        for job_id in (theirs, 999_999):
            with pytest.raises(psycopg.Error) as info:
                producer.execute("select procrastinate_get_job_status(%s)", [job_id])
            assert info.value.sqlstate == "PT003"
            assert str(info.value).startswith(f"job {job_id} does not exist")
        # A taken queueing lock is refused without naming the job holding it.
        with pytest.raises(psycopg.Error) as info:
            producer.execute("select procrastinate_defer_job('t', '{}', queueing_lock => 'shared')")
        assert info.value.sqlstate == "PT002"
        assert f"{theirs}" not in str(info.value).split("\n")[0]
        # And it cannot list jobs.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            producer.execute("select * from procrastinate_list_jobs_v1()")
