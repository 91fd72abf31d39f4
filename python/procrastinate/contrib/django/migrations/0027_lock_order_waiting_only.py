"""migrations/post/0027_lock_order_waiting_only.sql: lock arbitration's index
holds waiting jobs only; the claim checks each lock once. No model changes."""

from django.db import migrations

from procrastinate.contrib.django.migration_operations import ApplyProcrastinateMigration


class Migration(migrations.Migration):
    # The runner gives each SQL file its own transaction.
    atomic = False
    dependencies = [("procrastinate", "0026_operator_rescue")]

    operations = [ApplyProcrastinateMigration("0027_lock_order_waiting_only")]
