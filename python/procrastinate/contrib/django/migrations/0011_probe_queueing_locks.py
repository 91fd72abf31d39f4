"""migrations/pre/0011_probe_queueing_locks.sql: defer's queueing-lock check probes the
index per job of the batch. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0010_cheap_ops_views")]

    operations = [ApplyProcrastinateMigration("0011_probe_queueing_locks")]
