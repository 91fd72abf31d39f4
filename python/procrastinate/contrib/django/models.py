"""Read-only models over the queue's tables (unmanaged: the schema comes
from the migration files, applied by this app's Django migrations).

Query them like any model (``ProcrastinateJob.objects.filter(status="failed")``);
change jobs through the job manager (``app.job_manager.retry_job_by_id``,
``cancel_job_by_id``), which calls the SQL functions: saving, deleting or
updating through the ORM raises ReadOnlyModel (unless the setting
PROCRASTINATE_READONLY_MODELS is False).

Jobs keep the id of their worker and events the id of their job without a
foreign key in SQL (workers and jobs may be deleted): the ForeignKeys below
have no database constraint and ``job.worker`` may not exist anymore; read
``job.worker_id`` when in doubt.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from procrastinate import jobs

from . import exceptions
from .settings import settings

# The QuerySet methods that write, and their async forms (a...).
_EDIT_METHODS = frozenset(
    prefix + name
    for name in ("create", "get_or_create", "update_or_create", "bulk_create", "bulk_update",
                 "update", "delete")
    for prefix in ("", "a")
)


def _read_only(*args: Any, **kwargs: Any) -> NoReturn:
    raise exceptions.ReadOnlyModel(
        "The procrastinate models are read-only: change jobs with the job manager "
        "(app.job_manager.retry_job_by_id, cancel_job_by_id, ...) or the SQL "
        "functions, which keep the queue's rules"
    )


class ReadOnlyQuerySet(models.QuerySet):
    def __getattribute__(self, name: str) -> Any:
        if name in _EDIT_METHODS and settings.READONLY_MODELS:
            return _read_only
        return super().__getattribute__(name)


ReadOnlyManager = models.Manager.from_queryset(ReadOnlyQuerySet)


class ReadOnlyModel(models.Model):
    objects = ReadOnlyManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if settings.READONLY_MODELS:
            _read_only()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        if settings.READONLY_MODELS:
            _read_only()
        return super().delete(*args, **kwargs)


def _choices(values: list[str]) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


def _reference(model: type[models.Model], **options: Any) -> Any:
    """A ForeignKey with no constraint in the database (see above)."""
    return models.ForeignKey(model, on_delete=models.DO_NOTHING, db_constraint=False, **options)


class ProcrastinateWorker(ReadOnlyModel):
    """A running worker (procrastinate_workers): removed when it stops or
    when live workers find it silent."""

    id = models.BigAutoField(primary_key=True)
    name = models.TextField()
    host = models.TextField(null=True, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    queues = ArrayField(models.TextField(), null=True, blank=True)
    concurrency = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_heartbeat = models.DateTimeField(default=timezone.now)

    class Meta:
        managed = False
        db_table = "procrastinate_workers"

    def __str__(self) -> str:
        return f"Worker {self.name} #{self.id} (last heartbeat {self.last_heartbeat})"


class ProcrastinateJob(ReadOnlyModel):
    """A job (procrastinate_jobs)."""

    STATUSES = [status.value for status in jobs.Status]

    id = models.BigAutoField(primary_key=True)
    # The defaults are the table's (an ORM insert names every column, so the
    # database's own defaults would not apply): with PROCRASTINATE_READONLY_MODELS
    # False, ProcrastinateJob.objects.create(task_name=...) makes a waiting job.
    queue_name = models.TextField(default=jobs.DEFAULT_QUEUE)
    task_name = models.TextField()
    priority = models.IntegerField(default=jobs.DEFAULT_PRIORITY)
    lock = models.TextField(null=True, blank=True)
    queueing_lock = models.TextField(null=True, blank=True)
    args = models.JSONField(default=dict)
    status = models.CharField(max_length=32, choices=_choices(STATUSES), default="todo")
    scheduled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    abort_requested = models.BooleanField(default=False)
    worker = _reference(ProcrastinateWorker, null=True, blank=True)
    max_attempts = models.IntegerField(null=True, blank=True)
    retry_wait = models.FloatField(default=0)
    retry_linear_wait = models.FloatField(default=0)
    retry_exponential_wait = models.FloatField(default=0)
    retry_exceptions = ArrayField(models.TextField(), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)
    last_error_types = ArrayField(models.TextField(), null=True, blank=True)
    rescue_count = models.IntegerField(default=0)
    store_result = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    result_error = models.TextField(null=True, blank=True)
    last_error_traceback = models.TextField(null=True, blank=True)
    parents = ArrayField(models.BigIntegerField(), null=True, blank=True)
    after_policy = models.TextField(null=True, blank=True)
    has_dependents = models.BooleanField(default=False)
    limit_key = models.TextField(null=True, blank=True)
    timeout = models.FloatField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "procrastinate_jobs"

    @property
    def procrastinate_job(self) -> jobs.Job:
        """The driver's Job for this row."""
        return jobs.Job(
            id=self.id, queue=self.queue_name, task_name=self.task_name, task_kwargs=self.args,
            priority=self.priority, lock=self.lock, queueing_lock=self.queueing_lock,
            status=self.status, scheduled_at=self.scheduled_at, attempts=self.attempts,
            abort_requested=self.abort_requested, worker_id=self.worker_id,
            limit_key=self.limit_key, timeout=self.timeout,
        )

    def __str__(self) -> str:
        return self.procrastinate_job.call_string


class ProcrastinateEvent(ReadOnlyModel):
    """One step of a job's life (procrastinate_events, written by triggers)."""

    TYPES = (
        "deferred started deferred_for_retry failed succeeded cancelled abort_requested aborted"
        " scheduled retried released"
    ).split()

    id = models.BigAutoField(primary_key=True)
    job = _reference(ProcrastinateJob)
    type = models.CharField(max_length=32, choices=_choices(TYPES))
    at = models.DateTimeField(null=True, blank=True)

    class Meta:
        managed = False
        db_table = "procrastinate_events"
        get_latest_by = "at"

    def __str__(self) -> str:
        return f"Event {self.id} - Job {self.job_id}: {self.type} at {self.at}"


class ProcrastinatePeriodicDefer(ReadOnlyModel):
    """The job deferred for one tick of a periodic task."""

    id = models.BigAutoField(primary_key=True)
    task_name = models.TextField()
    defer_timestamp = models.BigIntegerField(null=True, blank=True)
    job = _reference(ProcrastinateJob, null=True, blank=True)
    periodic_id = models.TextField()

    class Meta:
        managed = False
        db_table = "procrastinate_periodic_defers"
        unique_together = [("task_name", "periodic_id", "defer_timestamp")]

    def __str__(self) -> str:
        return f"{self.task_name}[{self.periodic_id}] at {self.defer_timestamp}"
