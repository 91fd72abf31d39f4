"""migrations/post/0039_plain_finish_costs.sql: the update trigger tests
first whether anything applies; the release of the dependents of deleted
jobs becomes a row trigger with a condition. No table changes: no state
change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0038_dashboard_listings")]

    operations = [ApplyProcrastinateMigration("0039_plain_finish_costs")]
