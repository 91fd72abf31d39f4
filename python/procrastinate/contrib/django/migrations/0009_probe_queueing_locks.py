"""migrations/pre/0009_probe_queueing_locks.sql: defer's queueing-lock check probes the index per job. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0008_cheap_ops_views")]

    operations = [ApplyProcrastinateMigration("0009_probe_queueing_locks")]
