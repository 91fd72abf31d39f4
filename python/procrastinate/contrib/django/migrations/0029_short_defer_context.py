"""migrations/post/0029_short_defer_context.sql: procrastinate_defer_job's
errors carry a short CONTEXT. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0028_probe_each_lock_once")]

    operations = [ApplyProcrastinateMigration("0029_short_defer_context")]
