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
# The throwaway clusters of the lint and test targets live in memory
# (/dev/shm) when it is there: on this machine's disk (ext4 without a
# journal) creating the 300 files of a database costs 0.2 s of CPU, as the
# kernel looks for inodes not recently freed, and every test creates one; on
# tmpfs, 0.01 s. PRIVATE_PG_TMP=/tmp puts them back on disk. Not for demo and
# bench: the benchmark's durable mode needs a real disk.
PRIVATE_PG_TMP ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo /tmp)
WITH_TEST_PG := PRIVATE_PG_TMP=$(PRIVATE_PG_TMP) $(WITH_PG)
# Extra options: make test/py PYTEST_ARGS='-k defer -x'; make test/sql PG_PROVE_ARGS='-j 2'
PYTEST_ARGS ?=
PG_PROVE_ARGS ?=
# pytest-xdist processes of the parallel part of check and test (each test
# has a database of its own): 2 suits this 2-core machine (auto: one per
# core). worksteal: an idle process takes tests queued for a busy one.
PYTEST_WORKERS ?= 2
# What `make check` leaves out (tests/py/conftest.py puts the markers): the
# chaos tests (minutes of crashes, serial) and procrastinate 3.10 from PyPI.
CHECK_MARKERS := not chaos and not upstream
# `make test` installs once, then runs the steps in a sub-make with
# NO_INSTALL=1 so that they do not check the installation again.
INSTALL := $(if $(NO_INSTALL),,install)
INSTALL_VENV := $(if $(NO_INSTALL),,install/venv)

.PHONY: help install install/system install/venv lint lint/sql lint/py lint/migrations \
	lint/plpgsql verify/migrations check test test/sql test/py test/py/check \
	db/start db/stop db/status db/psql demo bench bench/fast bench/durable bench/triggers bench/dashboard clean

help: ## Show this list of targets
	@echo "Usage: make TARGET"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.\/-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

## --- install ---------------------------------------------------------------

install: install/system install/venv ## Install everything the tests need (Debian packages when root, .venv)

install/system: ## Install the missing Debian packages: PostgreSQL, pgTAP, pg_prove, plpgsql_check, Node.js, npm, Chromium
	@PYTHON=$(PYTHON) scripts/install-system-deps.sh

install/venv: $(VENV_STAMP) ## Create .venv and pip install -e '.[dev]' (again when pyproject.toml changes)

# Order-only on install/system: a Debian python3 may need python3-venv first.
$(VENV_STAMP): pyproject.toml setup.py | install/system
	$(PYTHON) -m venv $(VENV)
	@# Before the distribution was renamed procrastinate-sqlcore, the editable
	@# install left python/procrastinate.egg-info: a second distribution of
	@# the same package, which the CLI refuses to run beside.
	rm -rf python/procrastinate.egg-info
	$(VENV)/bin/pip install --disable-pip-version-check --progress-bar off -e '.[dev]'
	touch $@

## --- lint ------------------------------------------------------------------

lint: lint/sql lint/py ## Lint the SQL (sqlfluff over sql/, migrations/, tests/sql/; not the generated files) and the Python (ruff, mypy)

lint/sql: $(INSTALL_VENV)
	@scripts/lint-sql.sh

# Both steps run and report, then the target fails if either found something.
lint/py: $(INSTALL_VENV) ## Lint the Python: ruff over python/ and tests/py/, mypy over python/ (settings in pyproject.toml)
	@rc=0; $(VENV)/bin/ruff check python tests/py || rc=$$?; \
	$(VENV)/bin/mypy python/procrastinate || rc=$$?; exit $$rc

lint/migrations: $(INSTALL_VENV) ## Check migrations/ for locking hazards with squawk (exceptions annotated in the files)
	@$(VENV)/bin/python scripts/migrations.py lint

verify/migrations: $(INSTALL_VENV) ## Generated migration files current; sql/ == migrated == converted procrastinate 3.10
	@$(VENV)/bin/python scripts/migrations.py check
	@$(WITH_TEST_PG) $(VENV)/bin/python scripts/migrations.py compare

lint/plpgsql: $(INSTALL) ## Check inside every PL/pgSQL function with plpgsql_check (errors fail)
	@$(WITH_TEST_PG) scripts/plpgsql-check.sh

## --- test ------------------------------------------------------------------

# One cluster session for all steps; -k so that a lint failure still lets
# the tests run and report (the target fails all the same).
check: install ## The edit loop (under 2 min): lint, plpgsql_check, pgTAP, pytest without the chaos and upstream tests, in parallel
	@$(WITH_TEST_PG) $(MAKE) -k NO_INSTALL=1 lint lint/plpgsql test/sql test/py/check

test: install ## Everything CI runs: lint, plpgsql_check, pgTAP and the whole pytest suite (also squawk, fresh == migrated == 3.x converted)
	@$(WITH_TEST_PG) $(MAKE) -k NO_INSTALL=1 lint lint/plpgsql test/sql test/py

test/sql: $(INSTALL) ## Run the pgTAP tests (tests/sql/) with pg_prove
	@$(WITH_TEST_PG) scripts/run-pgtap.sh $(PG_PROVE_ARGS)

test/py: $(INSTALL) ## Run pytest over tests/py/: all but chaos on PYTEST_WORKERS processes, then chaos alone (PYTEST_ARGS='-k name')
	@$(WITH_TEST_PG) scripts/run-pytest.sh --lanes $(PYTEST_WORKERS) $(PYTEST_ARGS)

test/py/check: $(INSTALL) ## pytest -m "not chaos and not upstream" on PYTEST_WORKERS processes (pytest-xdist)
	@$(WITH_TEST_PG) scripts/run-pytest.sh -n $(PYTEST_WORKERS) --dist worksteal -m "$(CHECK_MARKERS)" $(PYTEST_ARGS)

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

# The demo's own virtualenv: the package and psycopg's binary flavour only
# (not the dev extra's test and lint tools).
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed

$(DEMO_STAMP): pyproject.toml setup.py | install/system
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --disable-pip-version-check --progress-bar off -e '.[binary]'
	touch $@

demo: $(DEMO_STAMP) ## Defer jobs from Python and psql, run a worker, show what ran (private cluster; .venv-demo: the package and psycopg only)
	@DEMO_VENV=$(DEMO_VENV) $(WITH_PG) scripts/demo.sh

bench: install ## Run the benchmark (scripts/bench.sh) on a fast and on a durable private cluster (BENCH_ARGS=--quick)
	@scripts/bench.sh

bench/fast: install ## The same on the fast cluster only (fsync, synchronous_commit, full_page_writes off)
	@BENCH_CONFIGS=fast scripts/bench.sh

bench/durable: install ## The same on the durable cluster only (PostgreSQL's defaults, as production)
	@BENCH_CONFIGS=durable scripts/bench.sh

bench/triggers: install ## Measure what each trigger costs per job (bench/trigger_costs.py; BENCH_ARGS=--levels: the history levels)
	@$(WITH_PG) $(VENV)/bin/python bench/trigger_costs.py $(BENCH_ARGS)

bench/dashboard: install ## Time the dashboard's pages on 1M jobs (bench/dashboard.py; BENCH_ARGS=--recent)
	@$(WITH_PG) $(VENV)/bin/python bench/dashboard.py $(BENCH_ARGS)

## --- clean -----------------------------------------------------------------

clean: ## Stop the dev cluster; delete .venv, .pgdata, build outputs and caches
	@if [[ -d .pgdata ]]; then scripts/dev-pg.sh stop || true; fi
	rm -rf $(VENV) $(DEMO_VENV) .pgdata build dist .pytest_cache .ruff_cache .mypy_cache python/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
