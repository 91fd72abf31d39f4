"""migrations/post/0051_trigger_joins_by_hash.sql: the update triggers join a
statement's old and new rows by hash. Functions only: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0050_history_level")]

    operations = [ApplyProcrastinateMigration("0051_trigger_joins_by_hash")]
