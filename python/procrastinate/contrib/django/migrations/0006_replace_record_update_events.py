"""migrations/pre/0006_replace_record_update_events.sql: a cheaper history
trigger for claims and finishes. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0005_replace_notify_updated_jobs")]

    operations = [ApplyProcrastinateMigration("0006_replace_record_update_events")]
