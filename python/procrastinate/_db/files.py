"""The SQL files: where they are (in a checkout and in an installed wheel),
the schema text, and the migration files.

The repository's top-level sql/ (the schema, applied in file-name order) and
migrations/ are the one source of truth. A checkout or an editable install
reads them in place; a built wheel carries copies made by the build hook in
setup.py, under procrastinate/_sql/.

Migration files (applied by procrastinate._db.migrations):

    migrations/pre/NNNN_verb_object.sql    expand: applied before new code is deployed
    migrations/post/NNNN_verb_object.sql   contract: applied once old code is gone
    migrations/upstream/{pre,post}/NNNN_verb_object.sql
                                           the conversion of a procrastinate 3.x database

pre/ and post/ share one number sequence. A file whose first line is
``-- migration: no-transaction`` runs statement by statement.

Every function of these files pins ``search_path = pg_catalog, public,
pg_temp``. Installed into another schema (the connection's current schema,
e.g. ``options="-c search_path=myschema"``), the text goes through
``in_schema`` first, so that the functions pin that schema instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import pathlib
import re

from procrastinate import exceptions

PHASES = ("pre", "post")
#: How every function of sql/ and migrations/ pins its search_path.
PINNED_SEARCH_PATH = re.compile(r"\bset search_path = pg_catalog, public, pg_temp\b", re.IGNORECASE)
NO_TRANSACTION_MARK = "-- migration: no-transaction"

_FILE_NAME = re.compile(r"^(?P<number>[0-9]{4})_(?P<name>[a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]
# python/procrastinate/_db/files.py -> the repository root, in a checkout.
_REPO_ROOT = _PACKAGE_DIR.parent.parent
_PACKAGED = _PACKAGE_DIR / "_sql"


def _root(in_checkout: str, packaged: str) -> pathlib.Path:
    # Both markers, so that an installed package never mistakes some sql/
    # folder that happens to sit two levels above site-packages for ours.
    if (_REPO_ROOT / "pyproject.toml").is_file() and (_REPO_ROOT / "sql").is_dir():
        return _REPO_ROOT / in_checkout
    return _PACKAGED / packaged


def schema_files() -> list[pathlib.Path]:
    """The schema files (sql/*.sql), in the order they must be applied (by name)."""
    return sorted(_root("sql", "schema").glob("*.sql"), key=lambda path: path.name)


def migrations_dir() -> pathlib.Path:
    """The migrations folder (with pre/ and post/ inside). May be empty."""
    return _root("migrations", "migrations")


def in_schema(sql: str, schema: str | None) -> str:
    """``sql`` (the schema, a migration) for installing into ``schema``:
    its functions pin that schema instead of public."""
    if schema is None:
        raise MigrationError(
            "the connection's search_path names no existing schema to install into: "
            "create the schema first (create schema myschema), or fix search_path"
        )
    if schema == "public":
        return sql
    quoted = '"' + schema.replace('"', '""') + '"'
    return PINNED_SEARCH_PATH.sub(f"set search_path = pg_catalog, {quoted}, pg_temp", sql)


def read_schema() -> str:
    """The whole schema as one SQL text, the files joined in order."""
    # A file may end without a newline; keep statements from gluing.
    return "\n".join(
        f"-- {path.name}\n{path.read_text(encoding='utf-8').rstrip()}\n" for path in schema_files()
    )


# --- the migration files --------------------------------------------------------------


class MigrationError(exceptions.ProcrastinateException):
    """A migration cannot be applied, or the files are inconsistent."""


@dataclasses.dataclass(frozen=True)
class Migration:
    number: int
    name: str
    phase: str
    path: pathlib.Path
    checksum: str
    transactional: bool
    upstream: bool = False

    @property
    def label(self) -> str:
        prefix = "3.x conversion " if self.upstream else ""
        return f"{prefix}{self.phase}/{self.number:04d}_{self.name}"

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def file_checksum(path: pathlib.Path) -> str:
    """sha256 hex of the file's bytes, as recorded in procrastinate_migrations."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scan(directory: pathlib.Path, upstream: bool) -> list[Migration]:
    found: list[Migration] = []
    for phase in PHASES:
        folder = directory / phase
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix != ".sql":
                continue
            match = _FILE_NAME.match(path.name)
            if not match:
                raise MigrationError(
                    f"{path}: a migration file is named NNNN_verb_object.sql "
                    "(four digits, lower-case words joined by _)"
                )
            first_line = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
            transactional = first_line != NO_TRANSACTION_MARK
            found.append(
                Migration(
                    int(match["number"]), match["name"], phase, path, file_checksum(path),
                    transactional, upstream,
                )
            )
    found.sort(key=lambda m: m.number)
    for first, second in itertools.pairwise(found):
        if first.number == second.number:
            raise MigrationError(
                f"migration number {first.number:04d} is used twice: {first.path} and {second.path}"
            )
    return found


def discover(directory: pathlib.Path | None = None) -> list[Migration]:
    """The migrations of migrations/pre and migrations/post, by number."""
    return _scan(directory or migrations_dir(), upstream=False)


def discover_upstream(directory: pathlib.Path | None = None) -> list[Migration]:
    """The files converting a procrastinate 3.x database, by number."""
    return _scan((directory or migrations_dir()) / "upstream", upstream=True)


def required_version(directory: pathlib.Path | None = None) -> int:
    """Highest pre migration shipped: code needs it (and all before) applied."""
    numbers = [m.number for m in discover(directory) if m.phase == "pre"]
    return max(numbers, default=0)
