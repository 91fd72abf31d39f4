#!/usr/bin/env bash
# (Re)build the template database that test databases are cloned from:
#   procrastinate_template = an empty database + every sql/*.sql, in name order.
#
# Uses the server in the PG* environment (see with-private-pg.sh). Cloning a
# template is much faster than replaying the schema for every test database.
# The template carries a checksum of sql/ (names and contents) as its
# database comment, so a rebuild only happens when sql/ changed: cheap to
# call before every test step, also on a long-lived dev cluster.
# FORCE=1 rebuilds anyway. TEMPLATE_DB overrides the name.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

me="db-template"
db=${TEMPLATE_DB:-procrastinate_template}
admin_db=${PGDATABASE:-postgres}
# client_min_messages: no NOTICE chatter from "drop ... if exists".
psql_admin=(env PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$admin_db")

shopt -s nullglob
files=(sql/*.sql)

checksum=$(for f in "${files[@]}"; do printf '== %s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-64)
wanted="sql-sha256:$checksum"
current=$("${psql_admin[@]}" -At -c \
    "select shobj_description(oid, 'pg_database') from pg_database where datname = '$db'")
if [[ "$current" == "$wanted" && "${FORCE:-0}" != 1 ]]; then
    echo "$me: $db is up to date with sql/"
    exit 0
fi

# A template cannot be dropped while it is marked as one; WITH (FORCE)
# ends sessions still connected to it (PostgreSQL 13+).
"${psql_admin[@]}" <<SQL
select format('alter database %I is_template false', datname)
from pg_database where datname = '$db' \gexec
drop database if exists "$db" with (force);
create database "$db" template template0;
SQL

for f in "${files[@]}"; do
    if ! psql -X -v ON_ERROR_STOP=1 -q -d "$db" -f "$f"; then
        # Leave no half-built template behind for anything to clone.
        "${psql_admin[@]}" -c "drop database if exists \"$db\" with (force)" || true
        echo "$me: applying $f failed; $db dropped" >&2
        exit 1
    fi
done

"${psql_admin[@]}" <<SQL
alter database "$db" is_template true;
comment on database "$db" is '$wanted';
SQL
echo "$me: built $db from ${#files[@]} file(s) in sql/"
