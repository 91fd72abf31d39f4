# shellcheck shell=bash
# Shared helpers for the scripts/ that drive PostgreSQL. Source it, don't run it.
#
# Why these exist:
# - Debian installs each server major under /usr/lib/postgresql/NN/bin and
#   keeps initdb/pg_ctl off PATH, so we look the newest one up (or PG_MAJOR).
# - initdb and postgres refuse to run as root. When we are root, every
#   server-side command runs as the `postgres` system user that the Debian
#   package creates.

# Print the bin folder of the server to use: /usr/lib/postgresql/$PG_MAJOR/bin
# if PG_MAJOR is set, else the newest major that has an initdb.
pg_bindir() {
    local dir
    if [[ -n "${PG_MAJOR:-}" ]]; then
        dir="/usr/lib/postgresql/$PG_MAJOR/bin"
        [[ -x "$dir/initdb" ]] || { echo "no initdb in $dir (PG_MAJOR=$PG_MAJOR)" >&2; return 1; }
        echo "$dir"
        return
    fi
    dir=$(for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" ]] && echo "$d"
    done | sort -V | tail -n 1)
    [[ -n "$dir" ]] || { echo "no PostgreSQL server found under /usr/lib/postgresql (run: make install)" >&2; return 1; }
    echo "$dir"
}

# The system user that owns server files: postgres when we are root, else us.
pg_os_user() {
    if [[ $(id -u) -eq 0 ]]; then echo postgres; else id -un; fi
}

# Run a command as that user. From / so that a cwd the postgres user cannot
# read (e.g. a checkout under /root) does not produce warnings or failures.
as_pg_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# A TCP port on 127.0.0.1 with nothing listening, from $1 upward (never 5432).
find_free_port() {
    local port=$1
    while (( port < $1 + 200 )); do
        if (( port != 5432 )) && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
        port=$(( port + 1 ))
    done
    echo "no free port in $1..$(( $1 + 199 ))" >&2
    return 1
}

# Write the test-friendly server settings into a fresh cluster's config.
# Durability is off on purpose: the cluster is thrown away after the run.
# PG_DURABLE=1 keeps PostgreSQL's defaults (fsync, synchronous_commit and
# full_page_writes on), as production runs: the benchmark's durable mode.
# max_connections is 400 because a chaos test holds 300 idle connections.
pg_write_test_config() {
    local datadir=$1 port=$2 sockdir=$3
    local durability="fsync = off
synchronous_commit = off
full_page_writes = off"
    if [[ "${PG_DURABLE:-0}" == 1 ]]; then
        durability="# durable (PG_DURABLE=1): fsync, synchronous_commit, full_page_writes as default"
    fi
    as_pg_owner tee -a "$datadir/postgresql.conf" >/dev/null <<CONF

# --- added by scripts/pg-common.sh (test cluster) ---
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
max_connections = 400
$durability
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
}

# initdb a cluster owned by pg_os_user, superuser "postgres", trust auth for
# local socket and 127.0.0.1 only (nothing else listens).
pg_initdb() {
    local bindir=$1 datadir=$2
    as_pg_owner "$bindir/initdb" --pgdata="$datadir" --username=postgres \
        --auth=trust --encoding=UTF8 --locale=C --no-sync --no-instructions >/dev/null
}

# Wait until the server answers, up to $2 seconds.
pg_wait_ready() {
    local bindir=$1 timeout=$2 sockdir=$3 port=$4
    local deadline=$(( SECONDS + timeout ))
    until "$bindir/pg_isready" -q -h "$sockdir" -p "$port" -U postgres -d postgres; do
        (( SECONDS < deadline )) || return 1
        sleep 0.2
    done
}
