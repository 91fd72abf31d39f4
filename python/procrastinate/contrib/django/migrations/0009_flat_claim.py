"""migrations/pre/0009_flat_claim.sql: the claim walks partial indexes whose rows it can claim (its cost no longer grows with the
backlog). No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0006_replace_record_update_events")]

    operations = [ApplyProcrastinateMigration("0009_flat_claim")]
