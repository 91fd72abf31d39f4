"""migrations/post/0023_claims_skip_release_probe.sql: the update trigger
does nothing for a claim of locked jobs (a claim releases no lock). No model
changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0022_complete_leases")]

    operations = [ApplyProcrastinateMigration("0023_claims_skip_release_probe")]
