"""migrations/post/0047_worker_views_for_roles.sql: procrastinate_worker_stats
and procrastinate_stalled_jobs readable by the operator and reader roles
(their lease rule is an internal view). No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0046_why_waiting_limits")]

    operations = [ApplyProcrastinateMigration("0047_worker_views_for_roles")]
