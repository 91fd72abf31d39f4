"""migrations/pre/0011_sql_contract.sql: least privilege, versioned driver
functions, one clock, leases. New columns are not in the (read-only)
models."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0010_add_released_event")]

    operations = [ApplyProcrastinateMigration("0011_sql_contract")]
