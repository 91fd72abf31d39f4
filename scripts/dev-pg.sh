#!/usr/bin/env bash
# A persistent PostgreSQL cluster for interactive development, in .pgdata/
# (git-ignored), on 127.0.0.1:${DEV_PG_PORT:-54330}, superuser "postgres",
# trust auth. Same test-friendly settings as the throwaway test clusters
# (durability off: do not keep anything precious in it).
#
#   scripts/dev-pg.sh start    init if needed, start, build the template,
#                              print the export lines to use it
#   scripts/dev-pg.sh stop     stop it (data kept; `make clean` deletes it)
#   scripts/dev-pg.sh status   say whether it runs
#   scripts/dev-pg.sh env      print the export lines only
#
# With the printed variables exported, `make test` and friends use this
# cluster instead of starting a throwaway one.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source=scripts/pg-common.sh
. "$here/pg-common.sh"

me="db"
die() { echo "$me: $*" >&2; exit 1; }

pgdata=$root/.pgdata
datadir=$pgdata/data
sockdir=$pgdata/sock
port=${DEV_PG_PORT:-54330}

print_env() {
    echo "export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres"
}

running() {
    [[ -f "$datadir/postmaster.pid" ]] &&
        as_pg_owner "$bindir/pg_ctl" status -D "$datadir" >/dev/null 2>&1
}

bindir=$(pg_bindir 2>/dev/null) || die "$(pg_bindir 2>&1 >/dev/null)"

case "${1:-}" in
start)
    if running; then
        echo "$me: dev cluster already running on 127.0.0.1:$port" >&2
    else
        owner=$(pg_os_user)
        (( ${#sockdir} < 95 )) || die "socket path too long: $sockdir"
        if [[ ! -f "$datadir/PG_VERSION" ]]; then
            mkdir -p "$pgdata" "$sockdir"
            chown "$owner" "$pgdata" "$sockdir"
            as_pg_owner test -w "$pgdata" ||
                die "user $owner cannot reach $pgdata (a parent folder is closed to it); use make test, which works in /tmp"
            pg_initdb "$bindir" "$datadir" || die "initdb failed in $datadir"
            pg_write_test_config "$datadir" "$port" "$sockdir"
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "port $port is taken by another program (set DEV_PG_PORT, then make clean)"
        fi
        as_pg_owner "$bindir/pg_ctl" start -D "$datadir" -l "$pgdata/server.log" -w -t 30 -s >/dev/null 2>&1 ||
            die "server did not start: $(grep -E 'FATAL|PANIC' "$pgdata/server.log" | tail -n 1) (log: $pgdata/server.log)"
        pg_wait_ready "$bindir" 30 "$sockdir" "$port" || die "server does not answer (log: $pgdata/server.log)"
        echo "$me: dev cluster running on 127.0.0.1:$port (data $datadir, log $pgdata/server.log)" >&2
    fi
    (eval "$(print_env)" && cd "$root" && scripts/db-template.sh >&2)
    echo "$me: to use it:" >&2
    print_env
    ;;
stop)
    if running; then
        as_pg_owner "$bindir/pg_ctl" stop -D "$datadir" -m fast -w -t 30 -s >/dev/null ||
            die "could not stop the server in $datadir"
        echo "$me: dev cluster stopped (data kept in $datadir)"
    else
        echo "$me: dev cluster not running"
    fi
    ;;
status)
    if running; then echo "$me: running on 127.0.0.1:$port"; else echo "$me: not running"; exit 3; fi
    ;;
env)
    print_env
    ;;
*)
    die "usage: $0 start|stop|status|env"
    ;;
esac
