#!/usr/bin/env bash
# Run a command against a private, throwaway PostgreSQL cluster:
#
#   scripts/with-private-pg.sh CMD [ARGS...]
#
# Starts a fresh cluster (its own data folder and socket folder under
# /tmp/procrastinate-pg.XXXXXX, its own port from 54329 up, never 5432),
# exports PGHOST/PGPORT/PGUSER/PGDATABASE for CMD, runs CMD, then stops the
# server and deletes the folder whatever happened, and exits with CMD's code.
#
# If PGHOST, PGHOSTADDR, PGPORT or PGSERVICE is already set, a server has
# been chosen already (by the user, or by an outer with-private-pg.sh): CMD
# just runs against it, nothing is started. That is what lets `make test`
# run several steps in one cluster session.
#
# Settings: PG_MAJOR (server major, default the newest installed),
# PRIVATE_PG_PORT (first port to try, default 54329),
# PRIVATE_PG_TMP (parent folder, default /tmp; the postgres user must be able
# to reach it, and its path must be short: unix socket paths are limited to
# about 100 bytes).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/pg-common.sh
. "$here/pg-common.sh"

me="with-private-pg"
die() { echo "$me: $*" >&2; exit 1; }

(( $# )) || die "usage: $0 CMD [ARGS...]"

if [[ -n "${PGHOST:-}${PGHOSTADDR:-}${PGPORT:-}${PGSERVICE:-}" ]]; then
    exec "$@"
fi

bindir=$(pg_bindir 2>/dev/null) || die "$(pg_bindir 2>&1 >/dev/null)"
owner=$(pg_os_user)
id "$owner" >/dev/null 2>&1 || die "system user '$owner' is missing (Debian's postgresql package creates it)"
parent=${PRIVATE_PG_TMP:-/tmp}

# Clusters left by a run that was killed with SIGKILL (no trap could run):
# their owner.pid names a process that is gone. Stop and delete them, so
# repeated runs never pile up servers.
stop_cluster() {
    local base=$1 pid
    [[ -f "$base/data/postmaster.pid" ]] || return 0
    as_pg_owner "$bindir/pg_ctl" stop -D "$base/data" -m fast -w -t 15 -s >/dev/null 2>&1 ||
        as_pg_owner "$bindir/pg_ctl" stop -D "$base/data" -m immediate -w -t 15 -s >/dev/null 2>&1 ||
        true
    if [[ -f "$base/data/postmaster.pid" ]]; then
        # Still there: kill the postmaster named in its pid file (only that
        # pid, which this cluster owns); its children exit when it dies.
        pid=$(head -n 1 "$base/data/postmaster.pid" 2>/dev/null || true)
        if [[ "$pid" =~ ^[0-9]+$ ]]; then
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
}
for stale in "$parent"/procrastinate-pg.*; do
    [[ -f "$stale/owner.pid" ]] || continue
    stale_owner=$(cat "$stale/owner.pid" 2>/dev/null || true)
    [[ "$stale_owner" =~ ^[0-9]+$ ]] || continue
    if ! kill -0 "$stale_owner" 2>/dev/null; then
        echo "$me: removing stale cluster $stale (its run $stale_owner is gone)" >&2
        stop_cluster "$stale"
        rm -rf "$stale"
    fi
done

base=$(mktemp -d "$parent/procrastinate-pg.XXXXXX")
child=""

# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT
    # Finish the clean-up even if ^C is pressed again meanwhile.
    trap '' INT TERM HUP
    if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$child" 2>/dev/null || true
    fi
    stop_cluster "$base"
    rm -rf "$base"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

echo $$ >"$base/owner.pid"
mkdir "$base/sock"
# The server runs as $owner: it must own the folder (initdb also insists on
# a data folder it owns, mode 0700).
chown -R "$owner" "$base"
chmod 0755 "$base"
as_pg_owner test -w "$base" || die "user $owner cannot write to $base (set PRIVATE_PG_TMP)"
(( ${#base} < 90 )) || die "socket folder path too long: $base/sock (set PRIVATE_PG_TMP)"

pg_initdb "$bindir" "$base/data" || die "initdb failed in $base/data"

# Bind a free port; another run may grab the same one between our check and
# the server's bind, so try a few.
port=${PRIVATE_PG_PORT:-54329}
started=0
# Kept by the server's user: the file is mode 600, and the restore below runs as that user.
as_pg_owner cp "$base/data/postgresql.conf" "$base/postgresql.conf.orig"
for _ in 1 2 3 4 5; do
    port=$(find_free_port "$port") || die "no free TCP port found"
    pg_write_test_config "$base/data" "$port" "$base/sock"
    if as_pg_owner "$bindir/pg_ctl" start -D "$base/data" -l "$base/server.log" -w -t 30 -s >/dev/null 2>&1 &&
        pg_wait_ready "$bindir" 30 "$base/sock" "$port"; then
        started=1
        break
    fi
    stop_cluster "$base"
    if ! grep -q 'could not bind\|Address already in use' "$base/server.log" 2>/dev/null; then
        break
    fi
    # Port taken: restore the config and try the next port.
    as_pg_owner cp "$base/postgresql.conf.orig" "$base/data/postgresql.conf"
    port=$(( port + 1 ))
done
if (( ! started )); then
    reason=$(grep -E 'FATAL|PANIC|ERROR' "$base/server.log" 2>/dev/null | tail -n 1 || true)
    die "server did not start: ${reason:-see the log below}$(printf '\n'; tail -n 20 "$base/server.log" 2>/dev/null)"
fi

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
# For tests that want to look at the server log or the socket.
export PRIVATE_PG_DIR=$base PRIVATE_PG_LOG=$base/server.log PRIVATE_PG_SOCKET_DIR=$base/sock
echo "$me: PostgreSQL $(basename "$(dirname "$bindir")") on $PGHOST:$PGPORT (data $base, server user $owner)" >&2

# CMD runs in the background so that a TERM/INT reaches our trap at once
# (bash defers traps until a foreground child exits); stdin is passed on
# explicitly, as a background job would otherwise read /dev/null.
if { : <&0; } 2>/dev/null; then
    "$@" <&0 &
else
    "$@" </dev/null &
fi
child=$!
rc=0
wait "$child" || rc=$?
child=""
exit "$rc"
