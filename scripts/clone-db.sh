#!/usr/bin/env bash
# Create (or recreate) database $1 as a clone of the schema template:
#   scripts/clone-db.sh NAME
# Builds/refreshes the template first. Uses the server in the PG* environment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

(( $# == 1 )) || { echo "usage: $0 NAME" >&2; exit 2; }
name=$1
template=${TEMPLATE_DB:-procrastinate_template}

scripts/db-template.sh
PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
    psql -X -q -v ON_ERROR_STOP=1 -d "${PGDATABASE:-postgres}" <<SQL
drop database if exists "$name" with (force);
create database "$name" template "$template";
SQL
