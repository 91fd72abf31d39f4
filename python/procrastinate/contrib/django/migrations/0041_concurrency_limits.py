"""migrations/post/0041_concurrency_limits.sql: global concurrency limits
(the table procrastinate_limits, the columns limit_key and limited of
procrastinate_jobs, the claim procrastinate_fetch_jobs_v4). The models are
unmanaged: the new limit_key field needs no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0040_job_headers")]

    operations = [ApplyProcrastinateMigration("0041_concurrency_limits")]
