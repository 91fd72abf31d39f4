#!/usr/bin/env bash
# Run pytest over tests/py/ against the server in the PG* environment.
#   scripts/run-pytest.sh [pytest options]             one pytest run
#   scripts/run-pytest.sh --lanes N [pytest options]   the whole suite in two runs:
#       every test but the chaos ones on N processes (pytest-xdist, -n N;
#       worksteal: an idle process takes tests queued for a busy one),
#       then the chaos tests alone, one at a time (they crash and restart the
#       server and time recoveries: nothing may run beside them)
# The tests get PGHOST/PGPORT/PGUSER from the environment and
# PGDATABASE=procrastinate_test, a fresh clone of the schema template;
# PROCRASTINATE_TEMPLATE_DB names the template for tests that want their own
# clone (create database x template procrastinate_template). The template is
# built here, before pytest starts: its processes then only clone it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

me="test/py"
db=procrastinate_test
pytest=${PYTEST:-.venv/bin/pytest}

lanes=""
if [[ "${1:-}" == --lanes ]]; then
    (( $# >= 2 )) || { echo "usage: $0 --lanes N [pytest options]" >&2; exit 2; }
    lanes=$2
    shift 2
fi

scripts/clone-db.sh "$db"
export PGDATABASE=$db
export PROCRASTINATE_TEMPLATE_DB=${TEMPLATE_DB:-procrastinate_template}

has_test_files() {
    # (-print -quit, not `| grep -q .`: under pipefail, find dying of
    # SIGPIPE would make it false)
    [[ -n $(find tests/py -type f \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit \
        2>/dev/null) ]]
}

if [[ -z "$lanes" ]]; then
    rc=0
    "$pytest" tests/py "$@" || rc=$?
    # pytest exits 5 when it collected no test. That is fine only while
    # tests/py holds no test file at all; once tests exist, collecting none
    # (a broken import, a wrong -k) must fail.
    if (( rc == 5 )) && ! has_test_files; then
        echo "$me: no test files under tests/py/ yet, nothing to run"
        exit 0
    fi
    if (( rc == 5 )); then
        echo "$me: pytest collected no test, although tests/py/ has test files" >&2
    fi
    exit "$rc"
fi

# Both lanes run whatever happens to the first; a lane that collects no test
# (a -k that selects only one kind) is fine as long as the other ran some.
# The marker expression comes last: it wins over a -m in the options.
parallel=0 serial=0
echo "$me: every test but the chaos ones, on $lanes processes"
"$pytest" tests/py "$@" -n "$lanes" --dist worksteal -m "not chaos" || parallel=$?
echo "$me: the chaos tests, alone and one at a time"
"$pytest" tests/py "$@" -m chaos || serial=$?
if (( parallel == 5 && serial == 5 )); then
    if ! has_test_files; then
        echo "$me: no test files under tests/py/ yet, nothing to run"
        exit 0
    fi
    echo "$me: pytest collected no test, although tests/py/ has test files" >&2
    exit 5
fi
(( parallel == 5 )) && parallel=0
(( serial == 5 )) && serial=0
if (( parallel || serial )); then
    echo "$me: failed (parallel lane exit $parallel, chaos lane exit $serial)" >&2
    exit 1
fi
