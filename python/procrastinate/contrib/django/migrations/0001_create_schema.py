"""The schema of migrations/pre/0001_create_schema.sql, and the state of the
(unmanaged) models: Django creates no table here, the SQL file does."""

from django.db import migrations

from procrastinate.contrib.django import upstream_migrations
from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    initial = True
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies: list[tuple[str, str]] = []

    operations = [
        ApplyProcrastinateMigration("0001_create_schema"),
        *upstream_migrations.model_operations(),
    ]
