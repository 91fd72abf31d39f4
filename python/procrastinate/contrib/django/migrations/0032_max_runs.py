"""migrations/post/0032_max_runs.sql: procrastinate_defer_job and job
objects take max_runs beside max_attempts. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0031_events_in_3x_order")]

    operations = [ApplyProcrastinateMigration("0032_max_runs")]
