#!/usr/bin/env bash
# Run pytest over tests/py/ against the server in the PG* environment.
#   scripts/run-pytest.sh [pytest options]
# The tests get PGHOST/PGPORT/PGUSER from the environment and
# PGDATABASE=procrastinate_test, a fresh clone of the schema template;
# PROCRASTINATE_TEMPLATE_DB names the template for tests that want their own
# clone (create database x template procrastinate_template).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

me="test/py"
db=procrastinate_test
pytest=${PYTEST:-.venv/bin/pytest}

scripts/clone-db.sh "$db"
export PGDATABASE=$db
export PROCRASTINATE_TEMPLATE_DB=${TEMPLATE_DB:-procrastinate_template}

rc=0
"$pytest" tests/py "$@" || rc=$?

# pytest exits 5 when it collected no test. That is fine only while
# tests/py holds no test file at all; once tests exist, collecting none
# (a broken import, a wrong -k) must fail.
if (( rc == 5 )) && ! find tests/py -type f \( -name 'test_*.py' -o -name '*_test.py' \) 2>/dev/null | grep -q .; then
    echo "$me: no test files under tests/py/ yet, nothing to run"
    exit 0
fi
if (( rc == 5 )); then
    echo "$me: pytest collected no test, although tests/py/ has test files" >&2
fi
exit "$rc"
