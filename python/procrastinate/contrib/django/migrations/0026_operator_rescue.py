"""migrations/post/0026_operator_rescue.sql: procrastinate_rescue_stalled_jobs(),
the operator's rescue when no worker is alive. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0025_queueing_lock_probe_per_job")]

    operations = [ApplyProcrastinateMigration("0026_operator_rescue")]
