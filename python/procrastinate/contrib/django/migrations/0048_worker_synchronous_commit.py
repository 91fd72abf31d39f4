"""migrations/post/0048_worker_synchronous_commit.sql: the setting
procrastinate_settings.worker_synchronous_commit (a worker's claims, reports
and heartbeats may commit without waiting for the disk). The settings table
has no model: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0047_worker_views_for_roles")]

    operations = [ApplyProcrastinateMigration("0048_worker_synchronous_commit")]
