"""migrations/post/0031_events_in_3x_order.sql: a job's events come in
procrastinate 3.x's order. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0030_reconcile_held_jobs")]

    operations = [ApplyProcrastinateMigration("0031_events_in_3x_order")]
