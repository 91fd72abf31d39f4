"""procrastinate 3.x's Django migrations, by name, for projects written for it.

A project's migration with a relation to ``ProcrastinateJob`` depends on
procrastinate 3.x's last migration (``("procrastinate",
"0041_post_retry_failed_job")``), and a database procrastinate 3.10 migrated
has those 41 names recorded in ``django_migrations``. Our migrations are
named after our SQL files; the 41 names are a chain of small modules of ours
(``stub``) beside them, joined to ours by a merge migration:

- the first holds the state of the unmanaged models (as 3.x's did), so that
  a relation to them resolves at any of the names;
- the last applies our first SQL file (the runner skips it when it is in
  place), so that the tables exist once a project's migration depending on
  it runs, as they did with 3.x;
- on a database procrastinate 3.10 migrated, they are recorded already and
  ours run: the first one converts the schema (the runner does it, as
  ``procrastinate schema --migrate``); on one ours migrated, they run and do
  nothing.

No ``replaces``: Django would then record the 41 names instead of ours, and
commands that ignore replacements (``sqlmigrate``) would not find them.
"""

from __future__ import annotations

from typing import Any

import django.contrib.postgres.fields
from django.db import migrations, models

JOB_STATUSES = ["todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted"]
EVENT_TYPES = [
    "deferred",
    "started",
    "deferred_for_retry",
    "failed",
    "succeeded",
    "cancelled",
    "abort_requested",
    "aborted",
    "scheduled",
    "retried",
]


def text_array():
    return django.contrib.postgres.fields.ArrayField(
        base_field=models.TextField(), blank=True, null=True, size=None
    )


#: our first migration: the schema
FIRST = "0001_create_schema"

NAMES = [
    "0001_initial",
    "0002_drop_started_at_column",
    "0003_drop_started_at_column",
    "0004_drop_procrastinate_version_table",
    "0005_fix_procrastinate_fetch_job",
    "0006_fix_trigger_status_events_insert",
    "0007_add_queueing_lock_column",
    "0008_close_fetch_job_race_condition",
    "0009_add_defer_job_function",
    "0010_add_procrastinate_periodic_defers",
    "0011_add_foreign_key_index",
    "0012_add_locks_to_periodic_defer",
    "0013_fix_procrastinate_defer_periodic_job",
    "0014_add_finish_job_and_retry_job_functions",
    "0015_add_trigger_on_job_deletion",
    "0016_delete_finished_jobs",
    "0017_add_checks_to_finish_job",
    "0018_add_checks_to_retry_job",
    "0019_fix_finish_job_compat_issue",
    "0020_add_index_on_procrastinate_jobs",
    "0021_add_kwargs_to_defer_periodic_job",
    "0022_null_locks_excluded",
    "0023_remove_old_finish_job_function",
    "0024_job_id_bigint",
    "0025_add_models",
    "0026_add_job_priority",
    "0027_add_periodic_job_priority",
    "0028_add_cancel_states",
    "0029_add_additional_params_to_retry_job",
    "0030_alter_procrastinateevent_options",
    "0031_add_indexes_for_fetch_job",
    "0032_pre_cancel_notification",
    "0033_post_cancel_notification",
    "0034_pre_add_heartbeat",
    "0035_post_add_heartbeat",
    "0036_add_worker_model",
    "0037_pre_batch_defer_jobs",
    "0038_post_batch_defer_jobs",
    "0039_pre_priority_lock_fetch_job",
    "0040_pre_retry_failed_job",
    "0041_post_retry_failed_job",
]


def model_operations() -> list[Any]:
    """The state of the unmanaged models when the schema is created
    (Django creates no table: the SQL does)."""
    return [
            migrations.CreateModel(
                name="ProcrastinateWorker",
                fields=[
                    ("id", models.BigAutoField(primary_key=True, serialize=False)),
                    ("name", models.TextField()),
                    ("host", models.TextField(blank=True, null=True)),
                    ("pid", models.IntegerField(blank=True, null=True)),
                    ("queues", text_array()),
                    ("concurrency", models.IntegerField(blank=True, null=True)),
                    ("started_at", models.DateTimeField()),
                    ("last_heartbeat", models.DateTimeField()),
                ],
                options={"db_table": "procrastinate_workers", "managed": False},
            ),
            migrations.CreateModel(
                name="ProcrastinateJob",
                fields=[
                    ("id", models.BigAutoField(primary_key=True, serialize=False)),
                    ("queue_name", models.TextField()),
                    ("task_name", models.TextField()),
                    ("priority", models.IntegerField()),
                    ("lock", models.TextField(blank=True, null=True)),
                    ("queueing_lock", models.TextField(blank=True, null=True)),
                    ("args", models.JSONField()),
                    (
                        "status",
                        models.CharField(choices=[(s, s) for s in JOB_STATUSES], max_length=32),
                    ),
                    ("scheduled_at", models.DateTimeField(blank=True, null=True)),
                    ("attempts", models.IntegerField()),
                    ("abort_requested", models.BooleanField()),
                    ("max_attempts", models.IntegerField(blank=True, null=True)),
                    ("retry_wait", models.FloatField()),
                    ("retry_linear_wait", models.FloatField()),
                    ("retry_exponential_wait", models.FloatField()),
                    ("retry_exceptions", text_array()),
                    ("created_at", models.DateTimeField()),
                    ("started_at", models.DateTimeField(blank=True, null=True)),
                    ("finished_at", models.DateTimeField(blank=True, null=True)),
                    ("last_error", models.TextField(blank=True, null=True)),
                    ("last_error_types", text_array()),
                    ("rescue_count", models.IntegerField()),
                ],
                options={"db_table": "procrastinate_jobs", "managed": False},
            ),
            migrations.CreateModel(
                name="ProcrastinateEvent",
                fields=[
                    ("id", models.BigAutoField(primary_key=True, serialize=False)),
                    (
                        "type",
                        models.CharField(choices=[(t, t) for t in EVENT_TYPES], max_length=32),
                    ),
                    ("at", models.DateTimeField(blank=True, null=True)),
                ],
                options={
                    "db_table": "procrastinate_events",
                    "get_latest_by": "at",
                    "managed": False,
                },
            ),
            migrations.CreateModel(
                name="ProcrastinatePeriodicDefer",
                fields=[
                    ("id", models.BigAutoField(primary_key=True, serialize=False)),
                    ("task_name", models.TextField()),
                    ("defer_timestamp", models.BigIntegerField(blank=True, null=True)),
                    ("periodic_id", models.TextField()),
                ],
                options={"db_table": "procrastinate_periodic_defers", "managed": False},
            ),
    ]


def stub(module_name: str) -> type[migrations.Migration]:
    """The Migration of procrastinate 3.x's migration ``module_name`` names."""
    from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration

    name = module_name.rpartition(".")[2]
    position = NAMES.index(name)
    operations: list[Any] = []
    if position == 0:
        operations = model_operations()
    elif position == len(NAMES) - 1:
        operations = [ApplyProcrastinateMigration(FIRST)]

    class Migration(migrations.Migration):
        initial = position == 0
        # the runner gives each SQL file its own transaction
        atomic = False
        dependencies = [("procrastinate", NAMES[position - 1])] if position else []

    Migration.operations = operations
    return Migration
