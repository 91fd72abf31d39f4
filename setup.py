"""Build hook: ship the top-level SQL inside the wheel.

sql/ and migrations/ at the repository root are the one source of truth (the
files people edit and review). They are not under python/, so setuptools
would not package them; instead of keeping copies in git, this hook copies
them into the built package at build time:

    sql/**/*.sql         -> procrastinate/_sql/schema/**/*.sql
                            (sql/optional/ and the like come along)
    migrations/**/*.sql  -> procrastinate/_sql/migrations/**/*.sql

Editable installs skip the copy: procrastinate._db.files reads the
repository folders directly in that case. Everything else lives in
pyproject.toml.
"""

from __future__ import annotations

import pathlib
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent


def _sql_sources() -> list[tuple[pathlib.Path, pathlib.PurePosixPath]]:
    """(source file, destination relative to the procrastinate package)."""
    pairs = []
    for folder, name in (("sql", "schema"), ("migrations", "migrations")):
        top = ROOT / folder
        for path in sorted(top.rglob("*.sql")):
            rel = path.relative_to(top).as_posix()
            pairs.append((path, pathlib.PurePosixPath("_sql", name, rel)))
    return pairs


class BuildPyWithSql(build_py):
    def run(self) -> None:
        super().run()
        # In editable mode the package runs from python/ and finds the
        # repository's sql/ itself; copying would only create stale files.
        if getattr(self, "editable_mode", False):
            return
        package_dir = pathlib.Path(self.build_lib, "procrastinate")
        target = package_dir / "_sql"
        # Start from scratch so a file deleted from sql/ does not linger in
        # a reused build/ folder.
        shutil.rmtree(target, ignore_errors=True)
        # Created even when empty, so that an installed package always has
        # both folders (migrations_dir() may point at an empty one).
        (target / "schema").mkdir(parents=True, exist_ok=True)
        (target / "migrations").mkdir(parents=True, exist_ok=True)
        for source, rel in _sql_sources():
            dest = package_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode=include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        package_dir = pathlib.Path(self.build_lib, "procrastinate")
        return outputs + [str(package_dir / rel) for _, rel in _sql_sources()]


setup(cmdclass={"build_py": BuildPyWithSql})
