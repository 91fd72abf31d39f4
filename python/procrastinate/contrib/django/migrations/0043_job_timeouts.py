"""migrations/post/0043_job_timeouts.sql: job timeouts (the columns timeout
and deadline of procrastinate_jobs, the claim procrastinate_fetch_jobs_v5,
the rescue of jobs past their deadline, the view procrastinate_overdue_jobs).
The models are unmanaged: the new timeout field needs no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0042_dashboard_charts_search_reader")]

    operations = [ApplyProcrastinateMigration("0043_job_timeouts")]
