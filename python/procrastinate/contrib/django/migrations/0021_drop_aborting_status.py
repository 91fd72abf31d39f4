"""migrations/post/0021_drop_aborting_status.sql: procrastinate 3.x's old
status leaves the enum (a rewrite of procrastinate_jobs). No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0020_drop_superseded_functions")]

    operations = [ApplyProcrastinateMigration("0021_drop_aborting_status")]
