"""migrations/post/0050_history_level.sql: the setting
procrastinate_settings.history (full, outcomes or none: which events
procrastinate_events records). The settings table has no model, and the
events table keeps its shape: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0049_checks_skip_absent_keys")]

    operations = [ApplyProcrastinateMigration("0050_history_level")]
