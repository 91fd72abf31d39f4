"""migrations/post/0045_debounce_throttle.sql: debounce and throttle on
defer (the table procrastinate_throttles, the job object keys and the last
parameters of procrastinate_defer_job). No model changes: the table is read
and written by the SQL functions only."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0044_rate_limits")]

    operations = [ApplyProcrastinateMigration("0045_debounce_throttle")]
