#!/usr/bin/env bash
# Install the Debian packages the tests need, and only the missing ones:
#   a PostgreSQL server, pgTAP for that major, pg_prove, plpgsql_check (when
#   the archive has it), python3-venv if `python3 -m venv` cannot work, and
#   Node.js with npm (for examples/node-worker and its test), and Chromium
#   (the dashboard's browser tests).
# When everything is already installed (checked with dpkg), apt is not touched
# at all, so this is cheap to run before every test run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/pg-common.sh
. "$here/pg-common.sh"

PYTHON=${PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive

die() { echo "install-system-deps: $*" >&2; exit 1; }

# True when the package is fully installed (dpkg -s also knows removed
# packages whose config files remain, hence the Status check).
have_pkg() { dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'; }

command -v dpkg >/dev/null || {
    # Not Debian: we cannot install anything, but the tools may be there.
    pg_bindir >/dev/null && command -v pg_prove >/dev/null && exit 0
    die "not a Debian system: install a PostgreSQL server, pgTAP and pg_prove by hand"
}

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        SUDO=(cannot-install)
    fi
fi

apt_updated=0
created_policy=0
cleanup() {
    if (( created_policy )); then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

apt_install() {
    if [[ ${SUDO[0]:-} == cannot-install ]]; then
        die "missing Debian packages: $*; install them as root: apt-get install $*"
    fi
    if (( ! apt_updated )); then
        "${SUDO[@]}" apt-get update -q
        apt_updated=1
    fi
    # Installing the postgresql package creates the machine's "main" cluster
    # and would start it on port 5432. We never use that cluster, so tell
    # Debian's service scripts not to start anything while we install
    # (policy-rc.d exit 101 = "action forbidden"), unless a policy exists.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    echo "install-system-deps: apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

# 1. The server. Its major version (NN) decides the other package names.
if [[ -n "${PG_MAJOR:-}" ]] && ! have_pkg "postgresql-$PG_MAJOR"; then
    apt_install "postgresql-$PG_MAJOR"
fi
if ! bindir=$(pg_bindir 2>/dev/null); then
    apt_install postgresql
    bindir=$(pg_bindir)
fi
major=$(basename "$(dirname "$bindir")")

# 2. What the tests need for that major.
missing=()
have_pkg "postgresql-$major" || missing+=("postgresql-$major")
have_pkg "postgresql-$major-pgtap" || missing+=("postgresql-$major-pgtap")
have_pkg libtap-parser-sourcehandler-pgtap-perl || missing+=(libtap-parser-sourcehandler-pgtap-perl)
# A Python without a working venv module (Debian's own python3 needs the
# python3-venv package for ensurepip).
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
fi
# Node.js and npm: the example worker in another language and its test
# (tests/py/examples/test_node_worker.py runs `npm ci`). A Node.js installed
# another way (NodeSource's nodejs package bundles npm) counts as present.
command -v node >/dev/null || have_pkg nodejs || missing+=(nodejs)
command -v npm >/dev/null || have_pkg npm || missing+=(npm)
# Debian's Chromium: the dashboard's browser tests (tests/py/dashboard) drive
# it with Playwright, whose own browser downloads come from outside the
# package registries.
have_pkg chromium || missing+=(chromium)

if (( ${#missing[@]} )); then
    # plpgsql_check is optional (not every archive has it for every major):
    # add it when we are calling apt anyway and the archive knows it.
    if ! have_pkg "postgresql-$major-plpgsql-check"; then
        if (( ! apt_updated )) && [[ ${SUDO[0]:-} != cannot-install ]]; then
            "${SUDO[@]}" apt-get update -q
            apt_updated=1
        fi
        if apt-cache show "postgresql-$major-plpgsql-check" >/dev/null 2>&1; then
            missing+=("postgresql-$major-plpgsql-check")
        fi
    fi
    apt_install "${missing[@]}"
fi

echo "install-system-deps: PostgreSQL $major server, pgTAP, pg_prove, Node.js, npm and Chromium present" >&2
