"""migrations/post/0028_probe_each_lock_once.sql: the claim probes each lock
once per window. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0027_merge_procrastinate_3_names")]

    operations = [ApplyProcrastinateMigration("0028_probe_each_lock_once")]
