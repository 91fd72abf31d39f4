"""migrations/pre/0013_leases.sql: a worker's claim is a lease renewed by its
heartbeats, fetches and finishes, never counted from before the server
started; procrastinate_heartbeat_v2 returns the lease. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0012_probe_next_lock_job")]

    operations = [ApplyProcrastinateMigration("0013_leases")]
