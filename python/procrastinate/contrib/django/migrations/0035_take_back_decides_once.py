"""migrations/post/0035_take_back_decides_once.sql: the take-back of jobs
decides their status once. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0034_finish_plans_by_id")]

    operations = [ApplyProcrastinateMigration("0035_take_back_decides_once")]
