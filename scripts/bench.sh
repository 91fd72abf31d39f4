#!/usr/bin/env bash
# The side-by-side benchmark (bench/README.md): `make bench` runs it against a
# private throwaway PostgreSQL cluster (PGHOST/PGPORT/PGUSER set by
# scripts/with-private-pg.sh).
#
#   scripts/bench.sh [--quick] [other bench/run.py options]
#
# One virtualenv per system, so that the packages never mix (ours and
# procrastinate 3.10 are both imported as `procrastinate`):
#   .bench/venv-procrastinate   pip install procrastinate==3.10.0
#   .bench/venv-pgqueuer        pip install pgqueuer asyncpg psycopg[binary] (latest);
#                               its asyncpg driver is used, BENCH_PGQUEUER_DRIVER=psycopg
#                               switches to its psycopg one
#   ours: .venv (make install), or .bench/venv-ours with our dependencies
#         only, our code being taken from python/ through PYTHONPATH.
# They are reused when present; BENCH_REFRESH=1 rebuilds them (for instance
# to pick up a newer pgqueuer). BENCH_ARGS adds options (BENCH_ARGS=--quick).
# The table is printed and saved to .bench/results.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
me=bench
PYTHON=${PYTHON:-python3}

if [[ -z "${PGHOST:-}${PGHOSTADDR:-}${PGPORT:-}${PGSERVICE:-}" ]]; then
    echo "$me: no PostgreSQL server chosen; run \`make bench\` (or scripts/with-private-pg.sh $0)" >&2
    exit 2
fi
command -v psql >/dev/null || { echo "$me: psql is missing (make install/system)" >&2; exit 2; }

mkdir -p .bench

# venv DIR PACKAGE...: create DIR with PACKAGES unless it already holds them.
venv() {
    local dir=$1; shift
    local stamp=$dir/.bench-packages
    if [[ "${BENCH_REFRESH:-0}" != 1 && -x $dir/bin/python && -f $stamp && "$(cat "$stamp")" == "$*" ]]; then
        return 0
    fi
    echo "$me: creating $dir ($*)" >&2
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --progress-bar off "$@"
    echo "$*" >"$stamp"
}

venv .bench/venv-procrastinate "procrastinate==3.10.0"
venv .bench/venv-pgqueuer pgqueuer asyncpg "psycopg[binary]"

if [[ -x .venv/bin/python ]]; then
    ours_python=.venv/bin/python
else
    venv .bench/venv-ours "psycopg[binary]" psycopg_pool croniter
    ours_python=.bench/venv-ours/bin/python
fi

# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
exec "$PYTHON" bench/run.py \
    --python-ours "$root/$ours_python" \
    --python-procrastinate "$root/.bench/venv-procrastinate/bin/python" \
    --python-pgqueuer "$root/.bench/venv-pgqueuer/bin/python" \
    ${BENCH_ARGS:-} "$@"
