"""migrations/pre/0010_add_released_event.sql: the released event type. No
model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0009_probe_queueing_locks")]

    operations = [ApplyProcrastinateMigration("0010_add_released_event")]
