from django.db import models


class Order(models.Model):
    item = models.TextField()
    status = models.TextField(default="new")
    # the job that ships it (a relation to procrastinate's model, whose
    # migration depends on procrastinate 3.10's last migration name)
    job = models.ForeignKey(
        "procrastinate.ProcrastinateJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
    )
