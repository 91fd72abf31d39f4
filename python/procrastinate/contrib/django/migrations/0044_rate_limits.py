"""migrations/post/0044_rate_limits.sql: rate limits (the columns rate, per,
tokens and refilled_at of procrastinate_limits, read by the claim's limit
step). There is no model of the limits table: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0043_job_timeouts")]

    operations = [ApplyProcrastinateMigration("0044_rate_limits")]
