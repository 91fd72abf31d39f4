"""Joins procrastinate 3.x's migration names (0001_initial ...
0041_post_retry_failed_job, see upstream_migrations) to our chain. No SQL,
no model changes."""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False
    dependencies = [
        ("procrastinate", "0027_lock_order_waiting_only"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations: list[migrations.operations.base.Operation] = []
