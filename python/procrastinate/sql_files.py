"""Where the SQL files are, in a checkout and in an installed wheel.

The repository's top-level sql/ (the schema, applied in file-name order) and
migrations/ are the one source of truth. A checkout or an editable install
reads them in place; a built wheel carries copies made by the build hook in
setup.py, under procrastinate/_sql/.
"""

from __future__ import annotations

import pathlib

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
# python/procrastinate/sql_files.py -> the repository root, in a checkout.
_REPO_ROOT = _PACKAGE_DIR.parent.parent
_PACKAGED = _PACKAGE_DIR / "_sql"


def _in_checkout() -> bool:
    # Both markers, so that an installed package never mistakes some sql/
    # folder that happens to sit two levels above site-packages for ours.
    return (_REPO_ROOT / "pyproject.toml").is_file() and (
        _REPO_ROOT / "sql"
    ).is_dir()


def schema_dir() -> pathlib.Path:
    """The folder holding the schema files (sql/*.sql)."""
    if _in_checkout():
        return _REPO_ROOT / "sql"
    return _PACKAGED / "schema"


def schema_files() -> list[pathlib.Path]:
    """The schema files, in the order they must be applied (by name)."""
    return sorted(schema_dir().glob("*.sql"), key=lambda path: path.name)


def migrations_dir() -> pathlib.Path:
    """The migrations folder (with pre/ and post/ inside). May be empty."""
    if _in_checkout():
        return _REPO_ROOT / "migrations"
    return _PACKAGED / "migrations"


def read_schema() -> str:
    """The whole schema as one SQL text, the files joined in order."""
    parts = []
    for path in schema_files():
        text = path.read_text(encoding="utf-8")
        # A file may end without a newline; keep statements from gluing.
        parts.append(f"-- {path.name}\n{text.rstrip()}\n")
    return "\n".join(parts)
