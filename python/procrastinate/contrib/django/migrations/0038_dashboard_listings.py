"""migrations/post/0038_dashboard_listings.sql: the web dashboard's
functions (a page of jobs by keyset, one job with its events, failures
grouped by task and error type, the retry of one group). No table changes:
no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0037_results_and_dependencies")]

    operations = [ApplyProcrastinateMigration("0038_dashboard_listings")]
