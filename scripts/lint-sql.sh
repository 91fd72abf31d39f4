#!/usr/bin/env bash
# Lint the SQL with sqlfluff (.sqlfluff holds the rules): sql/, migrations/,
# tests/sql/ and tests/sql_helpers/, whichever of them hold .sql files.
#   scripts/lint-sql.sh [sqlfluff lint options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sqlfluff=${SQLFLUFF:-.venv/bin/sqlfluff}
dirs=()
for d in sql migrations tests/sql tests/sql_helpers; do
    # (not `find | grep -q .`: grep stops at the first line, find dies of
    # SIGPIPE, and pipefail then skipped the directory, half of the runs)
    if [[ -d $d ]] && [[ -n $(find "$d" -type f -name '*.sql' -print -quit) ]]; then
        dirs+=("$d")
    fi
done
if (( ${#dirs[@]} == 0 )); then
    echo "lint: no .sql files to lint yet"
    exit 0
fi
# One process per core; sqlfluff is slow on large files.
exec "$sqlfluff" lint --processes "$(nproc 2>/dev/null || echo 2)" "$@" "${dirs[@]}"
