"""migrations/pre/0012_probe_next_lock_job.sql: a finish looks up the next job of a
released lock only, not every job waiting for it. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0011_sql_contract")]

    operations = [ApplyProcrastinateMigration("0012_probe_next_lock_job")]
