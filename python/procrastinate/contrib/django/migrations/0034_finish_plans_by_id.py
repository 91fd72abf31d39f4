"""migrations/post/0034_finish_plans_by_id.sql: the report of outcomes looks
jobs up by id whatever the statistics say. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0033_cheaper_lock_heads")]

    operations = [ApplyProcrastinateMigration("0034_finish_plans_by_id")]
