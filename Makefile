# procrastinate, SQL-core edition: the one entry point people need.
# `make help` lists the targets (from the `## ` comments below).
#
# Everything that needs PostgreSQL runs through scripts/with-private-pg.sh:
# a throwaway cluster is started for the command and deleted afterwards,
# unless PGHOST/PGPORT/PGSERVICE already point at a server (for instance the
# dev cluster of `make db/start`), which is then used as it is.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory
# The test steps share one server and rebuild one template database: never
# run them side by side, even under make -j.
.NOTPARALLEL:

PYTHON ?= python3
VENV := .venv
# Rebuilt only when the packaging files change.
VENV_STAMP := $(VENV)/.installed
WITH_PG := scripts/with-private-pg.sh
# Extra options: make test/py PYTEST_ARGS='-k defer -x'; make test/sql PG_PROVE_ARGS='-j 2'
PYTEST_ARGS ?=
PG_PROVE_ARGS ?=
# `make test` installs once, then runs the steps in a sub-make with
# NO_INSTALL=1 so that they do not check the installation again.
INSTALL := $(if $(NO_INSTALL),,install)
INSTALL_VENV := $(if $(NO_INSTALL),,install/venv)

.PHONY: help install install/system install/venv lint lint/sql lint/migrations \
	lint/plpgsql verify/migrations test test/sql test/py db/start db/stop db/status db/psql \
	demo bench bench/triggers clean

help: ## Show this list of targets
	@echo "Usage: make TARGET"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.\/-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## --- install ---------------------------------------------------------------

install: install/system install/venv ## Install everything the tests need (Debian packages when root, .venv)

install/system: ## Install the missing Debian packages: PostgreSQL, pgTAP, pg_prove, plpgsql_check
	@PYTHON=$(PYTHON) scripts/install-system-deps.sh

install/venv: $(VENV_STAMP) ## Create .venv and pip install -e '.[dev]' (again when pyproject.toml changes)

# Order-only on install/system: a Debian python3 may need python3-venv first.
$(VENV_STAMP): pyproject.toml setup.py | install/system
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --progress-bar off -e '.[dev]'
	touch $@

## --- lint ------------------------------------------------------------------

lint: lint/sql ## Lint the SQL (sqlfluff over sql/, migrations/, tests/sql/)

lint/sql: $(INSTALL_VENV)
	@scripts/lint-sql.sh

lint/migrations: $(INSTALL_VENV) ## Check migrations/ for locking hazards with squawk (exceptions annotated in the files)
	@$(VENV)/bin/python scripts/migrations.py lint

verify/migrations: $(INSTALL_VENV) ## Generated migration files current; sql/ == migrated == converted procrastinate 3.10
	@$(VENV)/bin/python scripts/migrations.py check
	@$(WITH_PG) $(VENV)/bin/python scripts/migrations.py compare

lint/plpgsql: $(INSTALL) ## Check inside every PL/pgSQL function with plpgsql_check (errors fail)
	@$(WITH_PG) scripts/plpgsql-check.sh

## --- test ------------------------------------------------------------------

# One cluster session for all steps; -k so that a lint failure still lets
# the tests run and report (the target fails all the same).
test: install ## Run lint, plpgsql_check, pgTAP and pytest (which also runs squawk and the fresh == migrated check) in one private cluster
	@$(WITH_PG) $(MAKE) -k NO_INSTALL=1 lint lint/plpgsql test/sql test/py

test/sql: $(INSTALL) ## Run the pgTAP tests (tests/sql/) with pg_prove
	@$(WITH_PG) scripts/run-pgtap.sh $(PG_PROVE_ARGS)

test/py: $(INSTALL) ## Run pytest over tests/py/ (PYTEST_ARGS='-k name' to filter)
	@$(WITH_PG) scripts/run-pytest.sh $(PYTEST_ARGS)

## --- dev database ----------------------------------------------------------

db/start: install/system ## Start a persistent dev cluster in .pgdata/ and print the export lines
	@scripts/dev-pg.sh start

db/stop: ## Stop the dev cluster (data kept)
	@scripts/dev-pg.sh stop

db/status: ## Say whether the dev cluster runs
	@scripts/dev-pg.sh status || true

db/psql: ## Open psql on the dev cluster (start it first)
	@eval "$$(scripts/dev-pg.sh env)" && psql

## --- demo and bench --------------------------------------------------------

demo: install ## Defer jobs from Python and psql, run a worker, show what ran (private cluster)
	@$(WITH_PG) scripts/demo.sh

bench: install ## Run the benchmark (scripts/bench.sh) against a private cluster
	@$(WITH_PG) scripts/bench.sh

bench/triggers: install ## Measure what each trigger costs per job on the fast path (bench/trigger_costs.py)
	@$(WITH_PG) $(VENV)/bin/python bench/trigger_costs.py

## --- clean -----------------------------------------------------------------

clean: ## Stop the dev cluster; delete .venv, .pgdata, build outputs and caches
	@if [[ -d .pgdata ]]; then scripts/dev-pg.sh stop || true; fi
	rm -rf $(VENV) .pgdata build dist .pytest_cache python/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
