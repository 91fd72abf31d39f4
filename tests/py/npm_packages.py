"""npm packages a test needs (the Node.js example's ``pg``, pyright), installed
with ``npm ci`` from a folder's package-lock.json when its node_modules is
missing or was installed from other package files. Node.js and npm are
required, not optional: `make install/system` installs them."""

from __future__ import annotations

import fcntl
import hashlib
import pathlib
import shutil
import subprocess

import pytest

STAMP = ".procrastinate-installed"


def _lock_digest(folder: pathlib.Path) -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def installed(folder: pathlib.Path, needed_by: str) -> str:
    """The node executable, once ``folder``'s packages are installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            f"Node.js and npm are required by {needed_by} (found node: {node}, npm: {npm}). "
            "Install them with `make install/system` as root (Debian packages nodejs and "
            "npm), or from your distribution.",
            pytrace=False,
        )
    stamp = folder / "node_modules" / STAMP
    # Two test runs in one checkout must not run npm ci at once: lock the
    # lock file (npm ci reads it and never writes it).
    with (folder / "package-lock.json").open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = _lock_digest(folder)
        if not stamp.is_file() or stamp.read_text() != digest:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0:
                pytest.fail(
                    f"`npm ci` failed in {folder} (is https://registry.npmjs.org reachable?):\n"
                    + result.stdout
                    + result.stderr,
                    pytrace=False,
                )
            stamp.write_text(digest)
    return node
