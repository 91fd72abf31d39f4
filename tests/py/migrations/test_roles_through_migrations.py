"""sql/optional/roles.sql applied to a database that is then migrated ends
with the rights it would have had applied to a fresh install: a migration
that creates a function must take it from PUBLIC and grant it as roles.sql
does (a new function is executable by PUBLIC, and ours run as the owner)."""

from __future__ import annotations

import pathlib
import subprocess

import psycopg
import pytest

from procrastinate._db import migrations as m

ROOT = pathlib.Path(__file__).resolve().parents[3]
#: The last migration before the functions of the current release, and the
#: commit whose sql/optional/roles.sql went with it (roles.sql names the
#: functions of its own release: the one a user applied then).
BEFORE = 36
BEFORE_COMMIT = "1e86f61"

FUNCTION_RIGHTS = """
select p.oid::regprocedure::text as function,
    coalesce(r.rolname, 'PUBLIC') as grantee
from pg_proc as p
cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as a
left join pg_roles as r on r.oid = a.grantee
where
    (p.proname like 'procrastinate\\_%' or p.proname like '\\_procrastinate\\_%')
    and p.pronamespace = 'public'::regnamespace
    and a.privilege_type = 'EXECUTE'
    and a.grantee <> p.proowner
"""


def rights(conn: psycopg.Connection) -> set[tuple[str, str]]:
    return {(row[0], row[1]) for row in conn.execute(FUNCTION_RIGHTS).fetchall()}


def roles_sql(commit: str | None = None) -> str:
    if commit is None:
        return (ROOT / "sql" / "optional" / "roles.sql").read_text()
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:sql/optional/roles.sql"],
        check=True, capture_output=True, text=True,
    ).stdout


def apply_roles(conn: psycopg.Connection, script: str) -> None:
    conn.execute("select pg_advisory_lock(hashtext('procrastinate roles.sql'))")
    try:
        conn.execute(script)
    finally:
        conn.execute("select pg_advisory_unlock(hashtext('procrastinate roles.sql'))")


@pytest.mark.subprocess
def test_roles_keep_their_exact_rights_through_the_migrations(new_db, fresh_db, connect):
    older = connect(new_db("_roles"))
    m.migrate(older, target=BEFORE)
    apply_roles(older, roles_sql(BEFORE_COMMIT))
    assert m.migrate(older).steps  # the migrations since BEFORE
    fresh = connect(fresh_db)
    apply_roles(fresh, roles_sql())
    assert rights(older) == rights(fresh)
    assert not any(grantee == "PUBLIC" for _, grantee in rights(older))
