#!/usr/bin/env bash
# The side-by-side benchmark (bench/README.md), `make bench`:
#
#   scripts/bench.sh [--quick] [other bench/run.py options]
#
# With no server chosen (PGHOST/PGHOSTADDR/PGPORT/PGSERVICE unset), it runs
# once per server configuration of BENCH_CONFIGS (default "fast durable"),
# each on its own private throwaway cluster (scripts/with-private-pg.sh):
#   fast     fsync, synchronous_commit and full_page_writes off (the tests' cluster)
#   durable  PostgreSQL's defaults (PG_DURABLE=1), its data on this machine's disk
#            (PRIVATE_PG_TMP, default /tmp), as production runs
# and writes both reports, one after the other, to .bench/results.md (each
# also to .bench/results-<config>.md). With a server chosen, one run against
# it, in whatever configuration it has.
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
# to pick up a newer pgqueuer). graphile-worker and its Node.js come from the
# npm registry into .bench/graphile (scripts/install-bench-graphile.sh).
# BENCH_ARGS adds options (BENCH_ARGS=--quick).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
me=bench
PYTHON=${PYTHON:-python3}

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

node_graphile=$(scripts/install-bench-graphile.sh)

if [[ -z "${PGHOST:-}${PGHOSTADDR:-}${PGPORT:-}${PGSERVICE:-}" ]]; then
    # No server chosen: one private cluster per configuration, one after the other.
    configs=${BENCH_CONFIGS:-fast durable}
    reports=()
    started=$(date +%s)
    for config in $configs; do
        case $config in
            fast) durable=0 ;;
            durable) durable=1 ;;
            *) echo "$me: unknown configuration '$config' in BENCH_CONFIGS (fast, durable)" >&2; exit 2 ;;
        esac
        echo "$me: --- $config configuration ---" >&2
        PG_DURABLE=$durable scripts/with-private-pg.sh "$0" --output ".bench/results-$config.md" "$@" >/dev/null
        reports+=(".bench/results-$config.md")
    done
    {
        echo "<!-- make bench: configurations $configs; $(( ($(date +%s) - started + 30) / 60 )) min in all -->"
        first=1
        for report in "${reports[@]}"; do
            (( first )) || printf '\n---\n\n'
            first=0
            cat "$report"
        done
    } >.bench/results.md
    cat .bench/results.md
    echo "$me: both reports in .bench/results.md ($(( $(date +%s) - started )) s in all)" >&2
    exit 0
fi

# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
exec "$PYTHON" bench/run.py \
    --python-ours "$root/$ours_python" \
    --python-procrastinate "$root/.bench/venv-procrastinate/bin/python" \
    --python-pgqueuer "$root/.bench/venv-pgqueuer/bin/python" \
    --node-graphile "$node_graphile" \
    ${BENCH_ARGS:-} "$@"
