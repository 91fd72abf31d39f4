#!/usr/bin/env python3
"""Fetch the dashboard's third-party JavaScript from the npm registry, at the
pinned versions below, into python/procrastinate/dashboard/static/vendor/.

    .venv/bin/python scripts/vendor-js.py          # fetch (again) and write
    .venv/bin/python scripts/vendor-js.py --check  # the files on disk are the pinned ones

The files are committed, with each package's licence beside them: users get
them with the Python package, without npm or any build step. To upgrade,
change a version and its integrity (`npm view uplot@<version> dist.integrity`)
here, run this script, and look at the diff. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import pathlib
import sys
import tarfile
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENDOR = ROOT / "python" / "procrastinate" / "dashboard" / "static" / "vendor"
REGISTRY = "https://registry.npmjs.org"

#: name, version, the registry's sha512 integrity of the tarball, and the
#: files kept: path in the tarball -> name on disk.
PACKAGES = [
    (
        "uplot",
        "1.6.32",
        "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
        {
            "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uPlot.min.css",
            "package/LICENSE": "LICENSE",
        },
    ),
]


def fetch(name: str, version: str, integrity: str) -> bytes:
    url = f"{REGISTRY}/{name}/-/{name}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https URL)
        data = response.read()
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"vendor-js: {url} does not match its pinned integrity {integrity}")
    return data


def files_of(name: str, version: str, integrity: str, wanted: dict[str, str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(fetch(name, version, integrity)), mode="r:gz") as tar:
        for member, target in wanted.items():
            extracted = tar.extractfile(member)
            if extracted is None:
                raise SystemExit(f"vendor-js: {name}@{version} has no file {member}")
            out[target] = extracted.read()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    stale = []
    for name, version, integrity, wanted in PACKAGES:
        folder = VENDOR / name
        for target, content in files_of(name, version, integrity, wanted).items():
            path = folder / target
            if args.check:
                if not path.is_file() or path.read_bytes() != content:
                    stale.append(str(path.relative_to(ROOT)))
                continue
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        if not args.check:
            (folder / "VERSION").write_text(f"{name}@{version} {integrity}\n")
            print(f"vendor-js: {name}@{version} written to {folder.relative_to(ROOT)}")
    if stale:
        print("vendor-js: not the pinned files: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
