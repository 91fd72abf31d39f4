"""The SQL boundary: every SQL text the driver sends, and what runs it.

Nothing outside this package holds SQL text (tests/py/test_sql_boundary.py
checks it):

- ``queries``: what the driver calls at run time, one named constant each
  (defer, fetch, finish, workers, listings, notifications);
- ``schema_queries``: the schema lifecycle (its version, the migration
  bookkeeping, the procrastinate 3.x fingerprint, throwaway databases);
- ``wire``: the JSON the driver writes and reads (job object, outcome,
  fetched args);
- ``version``: the one schema-version check, run by the worker, ``check()``,
  ``procrastinate healthchecks``, ``schema --status`` and Django;
- ``migrations``: the migrations runner (``sqlsplit`` splits the files that
  run outside a transaction); ``files``: where sql/ and migrations/ are;
  ``psql_scripts``: the migrations written out as scripts for plain psql
  (``schema --migrations-path``);
- ``ops``: operations as generators of Calls, ``@operation`` that declares
  one for both forms, and what runs them (``run_sync`` / ``run_async``,
  re-exported by ``procrastinate.connector``); ``worker_ops``: the worker's
  operations (JobManager inherits them);
- ``pooled``: opening and closing the pools of the pooled connectors;
  ``listen``: the LISTEN loop they share (reconnects, notification hand-off).

Modules new in this edition, not part of procrastinate's public API.
"""
