"""``procrastinate schema --migrations-path``: the migrations as scripts for plain psql.

procrastinate 3.x has its users apply migrations by hand, ``cat $(procrastinate
schema --migrations-path)/FILE | psql``. The files of migrations/ are written
for the runner (procrastinate._db.migrations), which wraps each one in a
transaction (or runs a no-transaction one statement by statement) and records
it in procrastinate_migrations: piped as they are, they would record nothing,
and ``schema --status`` and the workers' schema check would not see them.

So the folder printed holds one script per migration, ``NNNN_phase_name.sql``
(``ls`` lists them in the order they apply), doing what the runner does: the
runner's own ``_apply_one`` drives a ScriptConnection, which writes down each
statement it is given instead of running it (as Alembic's offline mode does).
Around those statements each script stops psql at the first error (the open
transaction then rolls back: nothing recorded), takes the runner's advisory
lock, and refuses, changing nothing, what the runner would not do (GUARD).

Left out: the procrastinate 3.x conversion (migrations/upstream/). The runner
applies it only to a database made by 3.x, in place of 0001, and tracks it in
a table of its own that it drops at the end: it is no step of this sequence.
The guard sends a 3.x database to ``procrastinate schema --migrate``.

The folder is generated on demand, in the user's cache directory, one per
version and content of the migrations, and its files are rewritten whenever
their text differs: editable installs and wheels alike need no build step.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from psycopg import sql

from procrastinate import _identity
from procrastinate._db import files, migrations
from procrastinate._db import schema_queries as sq
from procrastinate._db.files import Migration, MigrationError

# The first error ends psql (exit code 3) instead of going on with the next
# statement; with AUTOCOMMIT on (a psqlrc may turn it off), each statement
# outside begin/commit commits on its own, as under the runner.
PSQL_SETTINGS = "\\set ON_ERROR_STOP on\n\\set AUTOCOMMIT on"

# Refuses, changing nothing, what `procrastinate schema --migrate` would not
# do. Fields: state (the runner's SCHEMA_STATE), is_post, number, file, first
# (the number of 0001, which the 3.x conversion records), and shipped: rows
# (number, file, sha256) of the shipped migrations up to this one.
GUARD = """\
do $guard$
declare
    v_kind text;
    v_has_records boolean;
    v_numbers integer[] := '{{}}';
    v_checksums text[] := '{{}}';
    v_missing text;
    v_edited text;
begin
    select s.kind, s.has_migrations into v_kind, v_has_records from ({state}) as s;
    if current_schema() is distinct from 'public' then
        raise exception 'procrastinate: these scripts install into schema public, not into %',
            coalesce(current_schema(), '(no schema of the search_path exists)')
            using hint = 'procrastinate schema --migrate installs into the current schema';
    end if;
    if v_has_records then
        select coalesce(array_agg(m.number), '{{}}'), coalesce(array_agg(m.checksum), '{{}}')
        into v_numbers, v_checksums
        from procrastinate_migrations as m;
    end if;
    if v_kind = 'upstream'
        or (v_kind = 'converting' and ({is_post} or {first} <> all(v_numbers))) then
        raise exception 'procrastinate: this database has procrastinate 3.x''s schema (%),'
            ' which these scripts do not convert',
            case v_kind when 'upstream' then 'not converted' else 'conversion under way' end
            using hint = 'procrastinate schema --migrate --phase pre converts it while 3.x'
            ' workers run; --phase post finishes it once no 3.x process runs';
    end if;
    if {number} = any(v_numbers) then
        raise exception 'procrastinate: % is already applied to this database', {file}
            using hint = 'procrastinate schema --status lists the applied and pending ones';
    end if;
    select
        string_agg(s.file, ', ' order by s.number) filter (where s.number <> all(v_numbers)),
        string_agg(s.file, ', ' order by s.number) filter (
            where s.checksum <> v_checksums[array_position(v_numbers, s.number)]
        )
    into v_missing, v_edited
    from (values
        {shipped}
    ) as s (number, file, checksum)
    where s.number < {number};
    if v_missing is not null then
        raise exception 'procrastinate: apply % first', v_missing
            using hint = 'apply the scripts in ls order, or run procrastinate schema --migrate';
    end if;
    if v_edited is not null then
        raise exception 'procrastinate: the database recorded other versions of %', v_edited
            using hint = 'a released migration was edited: restore the released files';
    end if;
end
$guard$;"""

_PHASE_TEXT = {
    "pre": "pre (expand): apply it before deploying the version that ships it; the\n"
    "-- version still running keeps working.",
    "post": "post (contract): apply it once no process of an older version runs\n"
    "-- (workers, producers, scripts): it may remove what they use.",
}
_HOW_TEXT = {
    True: "in one transaction together with the row that records it in\n"
    "-- procrastinate_migrations",
    False: "statement by statement, outside a transaction (it builds indexes\n"
    "-- concurrently or updates in batches), then records it in\n"
    "-- procrastinate_migrations; stopped half-way, it is safe to run again",
}


def script_name(m: Migration) -> str:
    """NNNN_phase_name.sql: ``ls`` lists the scripts in the order they apply."""
    return f"{m.number:04d}_{m.phase}_{m.name}.sql"


# --- the runner's statements, written down ---------------------------------------------

_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")


def render(query: str | sql.Composable, params: Mapping[str, Any] | None = None) -> str:
    """The text psycopg would send: psycopg's named placeholders become literals."""
    text = query if isinstance(query, str) else query.as_string(None)
    if params is None:  # psycopg leaves % alone then too
        return text

    def literal(match: re.Match[str]) -> str:
        return "%" if match[1] is None else sql.Literal(params[match[1]]).as_string(None)

    return _PLACEHOLDER.sub(literal, text)


def _terminated(statement: str) -> str:
    """The statement ending with the semicolon psql waits for before sending it."""
    text = statement.strip()
    if text.endswith(";"):
        return text
    # After a trailing -- comment, a semicolon on the same line would be commented out.
    return text + ("\n;" if "--" in text.rsplit("\n", 1)[-1] else ";")


class _Result:
    def __init__(self, row: tuple[Any, ...] | None):
        self.row = row

    def fetchone(self) -> tuple[Any, ...]:
        if self.row is None:
            raise MigrationError(
                "the runner reads a result that a psql script cannot answer in advance"
            )
        return self.row


class ScriptConnection:
    """What the runner's ``_apply_one`` takes for its psycopg connection (autocommit):
    the statements it is given are written down, in order, for psql to run."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, query: str | sql.Composable, params: Mapping[str, Any] | None = None) -> Any:
        if query == sq.CURRENT_SCHEMA:
            # The scripts install into public, the schema the files name (the
            # guard refuses any other), so the runner keeps their text as it is.
            return _Result(("public",))
        self.statements.append(_terminated(render(query, params)))
        return _Result(None)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.statements.append("begin;")
        yield
        self.statements.append("commit;")


# --- the scripts ---------------------------------------------------------------------------


def _header(m: Migration) -> str:
    name = script_name(m)
    return f"""\
-- procrastinate migration {m.number:04d}_{m.name}, phase {m.phase}
--
-- {_PHASE_TEXT[m.phase]}
--
-- Generated by {_identity.DISTRIBUTION} {_identity.version()} from
-- migrations/{m.phase}/{m.path.name}
-- (sha256 {m.checksum}).
-- Do not edit: `procrastinate schema --migrations-path` writes it again.
--
-- Applies the migration as `procrastinate schema --migrate` does,
-- {_HOW_TEXT[m.transactional]}.
-- The first error stops it, recording nothing. It refuses, changing nothing,
-- to run twice, before the earlier scripts, on a procrastinate 3.x database or
-- outside schema public.
--
-- Apply it with psql (but not psql -1):
--     psql -d mydb -f {name}
--     cat {name} | psql -d mydb
-- Apply the scripts of this folder in `ls` order, from the first one not
-- applied yet (`procrastinate schema --status` lists them).
-- The simpler way: `procrastinate schema --migrate --phase {m.phase}` applies every
-- pending {m.phase} migration, in order, just like this."""


def _guard(m: Migration, shipped: list[Migration]) -> str:
    rows = [
        sql.SQL("({}, {}, {})").format(*map(sql.Literal, (s.number, script_name(s), s.checksum)))
        for s in shipped
        if s.number <= m.number  # never empty: VALUES needs a row
    ]
    return sql.SQL(GUARD).format(
        state=sql.SQL(sq.SCHEMA_STATE.strip()),
        is_post=sql.Literal(m.phase == "post"),
        first=sql.Literal(shipped[0].number),
        number=sql.Literal(m.number),
        file=sql.Literal(script_name(m)),
        shipped=sql.SQL(",\n        ").join(rows),
    ).as_string(None)


def _lock(query: str) -> str:
    # \gset: the result goes into a psql variable instead of the output.
    return render(query, {"key": migrations.ADVISORY_LOCK_KEY}).strip() + " \\gset procrastinate_"


def script_text(m: Migration, shipped: list[Migration]) -> str:
    """The psql script applying ``m``, one of the ``shipped`` migrations (in number order)."""
    conn = ScriptConnection()
    migrations._apply_one(conn, m, migrations.Plan([m]))
    parts = [
        _header(m),
        PSQL_SETTINGS,
        # Held by the runner while it applies: the two never interleave.
        _lock(sq.MIGRATION_LOCK),
        _guard(m, shipped),
        *conn.statements,
        _lock(sq.MIGRATION_UNLOCK),
    ]
    return "\n\n".join(parts) + "\n"


def scripts(directory: pathlib.Path | None = None) -> dict[str, str]:
    """File name -> text of every script, in the order they apply."""
    shipped = files.discover(directory)
    return {script_name(m): script_text(m, shipped) for m in shipped}


# --- the folder ----------------------------------------------------------------------------


def _cache_roots() -> Iterator[pathlib.Path]:
    """Where the folders may go, best first: the user's cache directory, else (no
    home, or a read-only one, as in some containers) a folder of the user's own
    in the temporary directory."""
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        yield pathlib.Path(xdg) / "procrastinate-sqlcore"
    else:
        with contextlib.suppress(RuntimeError):  # no home directory
            yield pathlib.Path.home() / ".cache" / "procrastinate-sqlcore"
    owner = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    yield pathlib.Path(tempfile.gettempdir()) / f"procrastinate-sqlcore-{owner}"


def _make_private(folder: pathlib.Path) -> None:
    """Create ``folder`` if needed; refuse one that another user could write to:
    the scripts are run by whoever administers the database."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not hasattr(os, "getuid"):
        return
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise PermissionError(f"{folder} belongs to another user or others may write to it")


def _write(folder: pathlib.Path, wanted: dict[str, str]) -> None:
    present = {path.name for path in folder.glob("*.sql")}
    for name, text in wanted.items():
        path = folder / name
        if name in present and path.read_text(encoding="utf-8") == text:
            continue
        # Written aside then renamed: a reader never sees half a script.
        partial = folder / f".{name}.{os.getpid()}.partial"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    for name in present - wanted.keys():
        (folder / name).unlink(missing_ok=True)


def scripts_dir(directory: pathlib.Path | None = None) -> pathlib.Path:
    """The folder of psql scripts for the shipped migrations (or those of
    ``directory``), brought up to date now."""
    wanted = scripts(directory)
    digest = hashlib.sha256("\n".join(f"{n}\0{t}" for n, t in wanted.items()).encode())
    key = f"{_identity.version()}-{digest.hexdigest()[:16]}"
    problems = []
    for root in _cache_roots():
        folder = root / "psql-migrations" / key
        try:
            for level in (root, root / "psql-migrations", folder):
                _make_private(level)
            _write(folder, wanted)
        except OSError as exc:
            problems.append(f"{folder}: {exc}")
            continue
        return folder
    raise MigrationError("cannot write the psql migration scripts: " + "; ".join(problems))
