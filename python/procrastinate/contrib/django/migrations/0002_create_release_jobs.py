"""migrations/pre/0002_create_release_jobs.sql: the function a worker gives
back the jobs it claimed ahead with. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0001_create_schema")]

    operations = [ApplyProcrastinateMigration("0002_create_release_jobs")]
