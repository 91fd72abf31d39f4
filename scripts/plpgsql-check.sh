#!/usr/bin/env bash
# Check every PL/pgSQL function of the schema with plpgsql_check (which sees
# inside $$ bodies, where sqlfluff does not): unknown columns, wrong types,
# unreachable code... Runs against procrastinate_plpgsql_check, a fresh
# clone of the template, on the server in the PG* environment.
# Fails when plpgsql_check reports an error; warnings are only printed.
# Skipped (success) when the extension is not installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

me="lint/plpgsql"
db=procrastinate_plpgsql_check

scripts/clone-db.sh "$db"
if ! psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'create extension if not exists plpgsql_check' 2>/dev/null; then
    # Optional: not every archive has it for every PostgreSQL major.
    echo "$me: skipped, the plpgsql_check extension is not installed (Debian: postgresql-NN-plpgsql-check)"
    exit 0
fi

# Trigger functions are checked against each table they are attached to;
# other functions on their own; transition tables (referencing new table
# as ...) are named to the checker. Functions of extensions are skipped.
report=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -At -F ' | ' <<'SQL'
with targets as (
    select
        p.oid,
        coalesce(t.tgrelid, 0) as relid,
        t.tgoldtable::text as oldtable,
        t.tgnewtable::text as newtable
    from pg_proc as p
    inner join pg_language as l on p.prolang = l.oid
    left join pg_trigger as t on p.oid = t.tgfoid
    where
        l.lanname = 'plpgsql'
        and p.pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        and not exists (
            select 1 from pg_depend as d
            where d.objid = p.oid and d.deptype = 'e'
        )
        and (p.prorettype <> 'trigger'::regtype or t.tgrelid is not null)
)
select distinct
    c.level, tg.oid::regprocedure, c.lineno, c.message, coalesce(c.detail, '')
from targets as tg
cross join lateral plpgsql_check_function_tb(
    tg.oid, tg.relid,
    fatal_errors => false, oldtable => tg.oldtable, newtable => tg.newtable
) as c
order by 1, 2, 3;
SQL
)
if [[ -z "$report" ]]; then
    echo "$me: no problem found"
    exit 0
fi
echo "$report"
if grep -q '^error' <<<"$report"; then
    echo "$me: plpgsql_check found errors" >&2
    exit 1
fi
