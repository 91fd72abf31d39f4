"""migrations/post/0036_reconcile_anti_join.sql: the reconciliation compares
held jobs by an anti-join. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0035_take_back_decides_once")]

    operations = [ApplyProcrastinateMigration("0036_reconcile_anti_join")]
