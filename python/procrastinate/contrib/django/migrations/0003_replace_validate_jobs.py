"""migrations/pre/0003_replace_validate_jobs.sql: a cheaper validation of
deferred jobs. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0002_create_release_jobs")]

    operations = [ApplyProcrastinateMigration("0003_replace_validate_jobs")]
