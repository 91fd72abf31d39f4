"""migrations/post/0030_reconcile_held_jobs.sql: a worker compares the jobs
it holds with those the database gives it. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0029_short_defer_context")]

    operations = [ApplyProcrastinateMigration("0030_reconcile_held_jobs")]
