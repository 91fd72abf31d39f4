"""migrations/post/0049_checks_skip_absent_keys.sql: the checks of a defer
and of a report skip those of keys a job or an outcome does not have.
Functions only: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0048_worker_synchronous_commit")]

    operations = [ApplyProcrastinateMigration("0049_checks_skip_absent_keys")]
