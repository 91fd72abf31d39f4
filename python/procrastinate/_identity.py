"""Which procrastinate this is: the SQL-core edition, a distribution of its
own (``procrastinate-sqlcore``) that keeps the import name ``procrastinate``
and implements procrastinate's public API at level ``API_LEVEL``.

Both distributions write the same ``procrastinate/`` folder. Installed over
procrastinate, ours replaces its files, and uninstalling either one then
breaks the other: ``overlap()`` names that state, which ``--version`` prints
and every other command refuses to run in. (Installed the other way round,
procrastinate's files replace ours, and its ``--version`` says so.)
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "procrastinate-sqlcore"
#: procrastinate's release whose public API this edition implements.
API_LEVEL = "3.10"
UPSTREAM_DISTRIBUTION = "procrastinate"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0.0.0+unknown"


def describe() -> str:
    """One line for ``--version`` and logs."""
    return f"{DISTRIBUTION} {version()} (SQL-core edition, procrastinate {API_LEVEL} API)"


def overlap() -> str | None:
    """Why this environment is broken when procrastinate (upstream's
    distribution) is installed beside ours, or None."""
    try:
        upstream = metadata.version(UPSTREAM_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    return (
        f"procrastinate {upstream} (upstream's distribution) is installed in this environment "
        f"beside {DISTRIBUTION}: both write the procrastinate/ package, so uninstalling either "
        f"one breaks the other. Run `pip uninstall {UPSTREAM_DISTRIBUTION} {DISTRIBUTION}` "
        f"then `pip install {DISTRIBUTION}`."
    )
