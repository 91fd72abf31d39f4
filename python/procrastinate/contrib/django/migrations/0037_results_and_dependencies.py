"""migrations/post/0037_results_and_dependencies.sql: stored results and
dependencies (store_result, result, result_error, last_error_traceback,
parents, after_policy, has_dependents on jobs; max_result_bytes in the
settings; procrastinate_job_dependencies). The models are unmanaged: their
new fields need no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0036_reconcile_anti_join")]

    operations = [ApplyProcrastinateMigration("0037_results_and_dependencies")]
