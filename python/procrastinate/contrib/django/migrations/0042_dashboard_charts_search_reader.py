"""migrations/post/0042_dashboard_charts_search_reader.sql: the web
dashboard's per-queue counts and throughput (counted from the jobs' finish
events), a time range and args search on the jobs page, and the
procrastinate_reader role's rights. No model changes: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0041_concurrency_limits")]

    operations = [ApplyProcrastinateMigration("0042_dashboard_charts_search_reader")]
