"""migrations/pre/0010_cheap_ops_views.sql: procrastinate_queue_stats in one pass,
procrastinate_queue_backlog, retention without JIT. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0009_flat_claim")]

    operations = [ApplyProcrastinateMigration("0010_cheap_ops_views")]
