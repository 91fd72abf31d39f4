"""migrations/post/0049_defer_checks_skip_absent_keys.sql: a defer's checks
skip those of keys the job does not have. A function only: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0048_worker_synchronous_commit")]

    operations = [ApplyProcrastinateMigration("0049_defer_checks_skip_absent_keys")]
