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
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
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


def strip_comments(statement: str) -> str:
    """The statement without its leading comments and blank lines."""
    text = statement.strip()
    while True:
        if text.startswith("--"):
            end = text.find("\n")
            text = "" if end < 0 else text[end + 1 :].strip()
        elif text.startswith("/*"):
            depth, i = 1, 2
            while i < len(text) and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            text = text[i:].strip()
        else:
            return text
