"""migrations/pre/0004_replace_queue_index.sql: the index of a worker's
queues becomes a b-tree (defers no longer slow down as a queue grows). No
model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction (none for this one:
    # CREATE INDEX CONCURRENTLY).
    atomic = False
    dependencies = [("procrastinate", "0003_replace_validate_jobs")]

    operations = [ApplyProcrastinateMigration("0004_replace_queue_index")]
