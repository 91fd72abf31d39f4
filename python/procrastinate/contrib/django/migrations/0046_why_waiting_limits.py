"""migrations/post/0046_why_waiting_limits.sql: procrastinate_why_waiting
names the concurrency and rate limits that hold a queue's jobs back. A
function only: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0045_debounce_throttle")]

    operations = [ApplyProcrastinateMigration("0046_why_waiting_limits")]
