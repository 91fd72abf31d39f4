#!/usr/bin/env bash
# Run the pgTAP tests: every tests/sql/**/*.sql, through pg_prove, against
# procrastinate_pgtap, a fresh clone of the schema template with the pgtap
# extension added. Uses the server in the PG* environment.
#   scripts/run-pgtap.sh [pg_prove options]   (e.g. -j 2, --verbose)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

me="test/sql"
db=procrastinate_pgtap

# Build the template even when there are no tests: it proves sql/ applies.
scripts/clone-db.sh "$db"

mapfile -t tests < <(find tests/sql -type f -name '*.sql' 2>/dev/null | sort)
if (( ${#tests[@]} == 0 )); then
    echo "$me: no pgTAP test files under tests/sql/ yet, nothing to run"
    exit 0
fi

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'create extension if not exists pgtap'

# pg_prove's default extension is .pg; ours is .sql. -r walks the folders.
# pg_prove exits non-zero when any test fails, which fails the target.
# client_min_messages: no NOTICE chatter such as "extension already exists".
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
exec pg_prove --dbname "$db" --ext .sql --recurse --failures "$@" tests/sql
