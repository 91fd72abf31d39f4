"""Splitting SQL text into statements, for the migration files that run
outside a transaction (``-- migration: no-transaction``: CREATE INDEX
CONCURRENTLY cannot run in a multi-statement string) and for
scripts/migrations.py."""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def split_statements(sql: str) -> list[str]:
    """Split SQL text on top-level semicolons.

    Knows quotes, double-quoted names, dollar quoting and both comment forms,
    so function bodies stay whole. Chunks holding only comments are dropped;
    the comments before a statement stay with it.
    """
    chunks: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c in "-/" and (end := _comment_end(sql, i)) is not None:
            i = end
            continue
        if c == "'":
            backslashes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _ident_char(sql[i - 2]))
            i += 1
            while i < n:
                if backslashes and sql[i] == "\\":
                    i += 2
                    continue
                if sql[i] == "'":
                    if sql.startswith("''", i):
                        i += 2
                        continue
                    break
                i += 1
            i += 1
            continue
        if c == '"':
            end = sql.find('"', i + 1)
            i = n if end < 0 else end + 1
            continue
        if c == "$" and not (i > 0 and _ident_char(sql[i - 1])):
            match = _DOLLAR_TAG.match(sql, i)
            if match:
                end = sql.find(match.group(0), match.end())
                i = n if end < 0 else end + len(match.group(0))
                continue
        if c == ";":
            chunks.append(sql[start:i])
            start = i + 1
        i += 1
    chunks.append(sql[start:])
    return [chunk.strip() for chunk in chunks if strip_comments(chunk)]


def _ident_char(c: str) -> bool:
    return c.isalnum() or c in "_$"


def _comment_end(sql: str, i: int) -> int | None:
    """Where the comment starting at ``i`` ends (nested /* */ too), or None."""
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if not sql.startswith("/*", i):
        return None
    depth, i = 1, i + 2
    while i < len(sql) and depth:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def strip_comments(statement: str) -> str:
    """The statement without its leading comments and blank lines."""
    text = statement.strip()
    while (end := _comment_end(text, 0)) is not None:
        text = text[end:].strip()
    return text
