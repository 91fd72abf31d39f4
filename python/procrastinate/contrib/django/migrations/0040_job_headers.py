"""migrations/post/0040_job_headers.sql: procrastinate_jobs.headers (the W3C
trace context of a job's defer, and any other header a job object
carries), returned with how long each job waited by the new claim
procrastinate_fetch_jobs_v4. The model (a read-only view of the table in
Django's admin) does not show it: no state change."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0039_plain_finish_costs")]

    operations = [ApplyProcrastinateMigration("0040_job_headers")]
