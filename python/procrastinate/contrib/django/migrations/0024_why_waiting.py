"""migrations/post/0024_why_waiting.sql: procrastinate_why_waiting(queue),
why a queue's jobs do not run. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0023_claims_skip_release_probe")]

    operations = [ApplyProcrastinateMigration("0024_why_waiting")]
