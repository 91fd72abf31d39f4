"""migrations/post/0037_store_results.sql: stored results (store_result,
result, result_error, last_error_traceback on jobs; max_result_bytes in the
settings). The models are unmanaged: their new fields need no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0036_reconcile_anti_join")]

    operations = [ApplyProcrastinateMigration("0037_store_results")]
