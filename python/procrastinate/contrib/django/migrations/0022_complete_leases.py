"""migrations/post/0022_complete_leases.sql: the claim, finish, rescue and
views of the leases again (0021 recreated them from an older copy), and
procrastinate_heartbeat_v1 dropped. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0021_drop_aborting_status")]

    operations = [ApplyProcrastinateMigration("0022_complete_leases")]
