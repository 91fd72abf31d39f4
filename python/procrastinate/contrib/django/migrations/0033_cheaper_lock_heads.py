"""migrations/post/0033_cheaper_lock_heads.sql: cheaper claims of locked
jobs (a new partial index, the claim function replaced). No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0032_max_runs")]

    operations = [ApplyProcrastinateMigration("0033_cheaper_lock_heads")]
