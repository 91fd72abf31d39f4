"""migrations/pre/0005_replace_notify_updated_jobs.sql: the notification
trigger of updates skips claims and finishes early. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0004_replace_queue_index")]

    operations = [ApplyProcrastinateMigration("0005_replace_notify_updated_jobs")]
