"""The schema of migrations/pre/0001_create_schema.sql, and the state of the
(unmanaged) models: Django creates no table here, the SQL file does."""

import django.contrib.postgres.fields
from django.db import migrations, models

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration

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


class Migration(migrations.Migration):
    initial = True
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies: list[tuple[str, str]] = []

    operations = [
        ApplyProcrastinateMigration("0001_create_schema"),
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
