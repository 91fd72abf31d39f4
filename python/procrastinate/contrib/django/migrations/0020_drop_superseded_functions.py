"""migrations/post/0020_drop_superseded_functions.sql: drops the driver
functions 0011 superseded, once no worker of the old code runs."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0013_leases")]

    operations = [ApplyProcrastinateMigration("0020_drop_superseded_functions")]
