"""migrations/post/0025_queueing_lock_probe_per_job.sql: defer's queueing-lock
check probes the index once per job of the batch, whatever the statistics say.
No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0024_why_waiting")]

    operations = [ApplyProcrastinateMigration("0025_queueing_lock_probe_per_job")]
