"""A user's migration with a relation to procrastinate's job model, depending
on procrastinate 3.10's last migration by name, as a project written for it
has: the name resolves here (our 0001 replaces procrastinate 3.x's 0001-0041)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0001_initial"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="job",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                to="procrastinate.procrastinatejob",
            ),
        ),
    ]
