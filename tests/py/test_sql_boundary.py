"""One SQL boundary: no module of python/procrastinate/ outside _db/ holds
SQL text (issue 15). The Django migrations (contrib/django/migrations/) are
checked too: they name a file of migrations/ and hold no SQL themselves.

Every string constant (f-strings with their fields as ``{}``; docstrings
left out) is flagged when it reads like a statement: a leading SQL keyword
followed by SQL words, a lone transaction or LISTEN statement, or a call of
a ``pg_`` / ``to_reg`` function anywhere in it.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "python" / "procrastinate"
BOUNDARY = PACKAGE / "_db"

_KEYWORDS = (
    "select|insert|update|delete|with|create|alter|drop|truncate|set|reset|show"
    "|listen|unlisten|notify|begin|start|commit|rollback|savepoint|release|lock|do"
    "|call|grant|revoke|copy|vacuum|analyze|explain|declare|prepare|execute|comment"
    "|discard|refresh|reindex|cluster"
)
# A leading keyword, after any -- comment lines.
_LEADING = re.compile(rf"^\s*(?:--[^\n]*\n\s*)*(?:{_KEYWORDS})\b", re.IGNORECASE)
# What a statement holds beyond its keyword, and prose does not.
_SQL_WORDS = re.compile(
    r"%\(|%s|::|\*|\(\s*\)|\$\w*\$"
    r"|\b(?:from|into|table|database|index|function|procedure|trigger|schema|role|values"
    r"|where|returning|transaction|statement_timeout|lock_timeout|search_path"
    r"|pg_\w+|to_reg\w+|procrastinate_\w+)\b",
    re.IGNORECASE,
)
_LONE_STATEMENT = re.compile(
    r"^\s*(?:begin|commit|rollback|checkpoint|select\s+\d+|(?:un)?listen\s+\S+"
    r"|notify\s+\S+|discard\s+all|reset\s+all)\s*;?\s*$",
    re.IGNORECASE,
)
_CATALOG_CALL = re.compile(r"\b(?:pg_\w+|to_reg\w+)\s*\(", re.IGNORECASE)

def looks_like_sql(text: str) -> bool:
    if _CATALOG_CALL.search(text) or _LONE_STATEMENT.match(text):
        return True
    return bool(_LEADING.match(text) and _SQL_WORDS.search(text))


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def string_constants(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string constant of ``source``, docstrings left out."""
    tree = ast.parse(source)
    skipped = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skipped.update(id(value) for value in node.values)
    strings = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                value.value if isinstance(value, ast.Constant) else "{}" for value in node.values
            )
            strings.append((node.lineno, text))
    return strings


def sql_outside_the_boundary() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if BOUNDARY in path.parents:
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        for line, text in string_constants(path.read_text(encoding="utf-8")):
            if looks_like_sql(text):
                found.append((relative, line, text.strip()))
    return found


def test_no_sql_text_outside_db():
    found = sql_outside_the_boundary()
    unexpected = [
        f"{path}:{line}: {text[:80]!r}"
        for path, line, text in found
    ]
    assert not unexpected, (
        "SQL text outside python/procrastinate/_db/ (move it to _db/queries.py or "
        "_db/schema_queries.py):\n" + "\n".join(unexpected)
    )


def test_the_boundary_holds_the_sql():
    # The detector finds the statements where they are meant to be.
    texts = [
        text
        for path in BOUNDARY.glob("*.py")
        for _, text in string_constants(path.read_text(encoding="utf-8"))
    ]
    assert sum(looks_like_sql(text) for text in texts) >= 40


@pytest.mark.parametrize(
    "text",
    [
        "select procrastinate_defer_jobs_v2(%(jobs)s::jsonb)",
        "-- a comment\ninsert into procrastinate_migrations (number) values (%s)",
        "set statement_timeout = {}",
        "create database {name} template {template}",
        "drop table procrastinate_upstream_migrations",
        "commit",
        "listen {channel}",
        "select 1",
        "with t as (select 1) select * from t",
        "update procrastinate_jobs set status = 'todo'",
        "lock table procrastinate_jobs",
        "do $$ begin perform 1; end $$",
        "  select pg_advisory_lock(42)",
        "to_regclass('procrastinate_jobs') is not null",
    ],
)
def test_statements_are_flagged(text):
    assert looks_like_sql(text)


@pytest.mark.parametrize(
    "text",
    [
        "Set the log level explicitly",
        "Create a job of TASK (a task name) with JSON_ARGS (a JSON object)",
        "With --migrate: pre (expand); default: both",
        "with periodic id",
        "lock",
        "update",
        "abort",
        "Delete jobs finished more than ``nb_hours`` ago",
        "-- migration: no-transaction",
        "procrastinate_jobs",
    ],
)
def test_prose_and_names_are_not_flagged(text):
    assert not looks_like_sql(text)
