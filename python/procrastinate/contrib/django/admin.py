"""Django admin pages: jobs (list, filters, details with events and last
error, retry / cancel / abort actions), workers and periodic defers.

Everything is read-only; the actions go through the job manager, that is
the SQL functions procrastinate_retry_job and procrastinate_cancel_job.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from procrastinate import exceptions

from . import models

STATUS_ICONS = {
    "todo": "🗓️",
    "doing": "🚂",
    "succeeded": "✅",
    "failed": "❌",
    "cancelled": "🤚",
    "aborting": "🔌",
    "aborted": "🔌",
}


def _job_manager() -> Any:
    from .procrastinate_app import app

    return app.job_manager


def _refuse(self: Any, request: HttpRequest, obj: Any = None) -> bool:
    return False


class ReadOnlyAdmin(admin.ModelAdmin):
    has_add_permission = has_change_permission = has_delete_permission = _refuse


class ProcrastinateEventInline(admin.TabularInline):
    model = models.ProcrastinateEvent
    fields = readonly_fields = ["type", "at"]
    ordering = ["id"]
    extra = 0
    can_delete = False
    verbose_name_plural = "Events"
    has_add_permission = has_change_permission = has_delete_permission = _refuse


@admin.register(models.ProcrastinateJob)
class ProcrastinateJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "task_name", "pretty_status", "queue_name", "short_args", "attempts",
        "scheduled_at", "created_at", "short_error",
    ]
    list_display_links = ["id", "task_name"]
    list_filter = ["status", "queue_name", "task_name", "priority", "created_at"]
    search_fields = ["task_name", "lock", "queueing_lock", "last_error"]
    ordering = ["-id"]
    fields = [
        "id", "task_name", "pretty_status", "queue_name", "priority", "pretty_args", "lock",
        "queueing_lock", "scheduled_at", "attempts", "max_attempts", "abort_requested",
        "worker_id", "created_at", "started_at", "finished_at", "pretty_last_error",
        "last_error_types", "pretty_traceback", "store_result", "pretty_result", "result_error",
    ]
    readonly_fields = fields
    inlines = [ProcrastinateEventInline]
    actions = ["retry", "cancel", "abort"]

    @admin.display(description="Status", ordering="status")
    def pretty_status(self, job: models.ProcrastinateJob) -> str:
        return f"{STATUS_ICONS.get(job.status, '')} {job.status}".strip()

    @admin.display(description="Args")
    def short_args(self, job: models.ProcrastinateJob) -> str:
        text = json.dumps(job.args, sort_keys=True)
        return text if len(text) <= 80 else text[:77] + "..."

    @admin.display(description="Args")
    def pretty_args(self, job: models.ProcrastinateJob) -> str:
        return format_html(
            '<pre style="margin: 0">{}</pre>', json.dumps(job.args, indent=2, sort_keys=True)
        )

    @admin.display(description="Last error")
    def short_error(self, job: models.ProcrastinateJob) -> str:
        if not job.last_error:
            return ""
        line = job.last_error.strip().splitlines()[-1]
        return line if len(line) <= 80 else line[:77] + "..."

    @admin.display(description="Last error")
    def pretty_last_error(self, job: models.ProcrastinateJob) -> str:
        if not job.last_error:
            return "-"
        return format_html('<pre style="margin: 0">{}</pre>', job.last_error)

    @admin.display(description="Last error's traceback")
    def pretty_traceback(self, job: models.ProcrastinateJob) -> str:
        if not job.last_error_traceback:
            return "-"
        return format_html('<pre style="margin: 0">{}</pre>', job.last_error_traceback)

    @admin.display(description="Result")
    def pretty_result(self, job: models.ProcrastinateJob) -> str:
        if not job.store_result:
            return "(not stored: deferred without store_result)"
        if job.status != "succeeded":
            return "-"
        return format_html(
            '<pre style="margin: 0">{}</pre>', json.dumps(job.result, indent=2, sort_keys=True)
        )

    def _act(self, request: HttpRequest, queryset: QuerySet[Any], verb: str, action: Any) -> None:
        done: list[str] = []
        refused: list[str] = []
        for job_id in queryset.order_by("id").values_list("id", flat=True):
            try:
                ok = action(job_id)
            except (exceptions.InvalidJobStatus, exceptions.JobNotFound):
                ok = False
            (done if ok else refused).append(f"#{job_id}")
        if done:
            self.message_user(request, f"{verb}: {', '.join(done)}", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"Not {verb.lower()} (their status does not allow it): {', '.join(refused)}",
                messages.WARNING,
            )

    @admin.action(
        description="Retry the selected jobs (failed, or running)", permissions=["manage_jobs"]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._act(request, queryset, "Retried", _job_manager().retry_job_by_id)

    @admin.action(
        description="Cancel the selected jobs (waiting ones)", permissions=["manage_jobs"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._act(request, queryset, "Cancelled", _job_manager().cancel_job_by_id)

    @admin.action(
        description="Abort the selected jobs (waiting or running ones)", permissions=["manage_jobs"]
    )
    def abort(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        abort = partial(_job_manager().cancel_job_by_id, abort=True)
        self._act(request, queryset, "Aborted", abort)

    def has_manage_jobs_permission(self, request: HttpRequest) -> bool:
        """Who may retry, cancel and abort: users with the "change" permission
        of jobs (the pages themselves are read-only)."""
        return request.user.has_perm("procrastinate.change_procrastinatejob")


@admin.register(models.ProcrastinateWorker)
class ProcrastinateWorkerAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "name", "host", "pid", "queues", "concurrency", "started_at", "last_heartbeat"
    ]
    ordering = ["id"]


@admin.register(models.ProcrastinatePeriodicDefer)
class ProcrastinatePeriodicDeferAdmin(ReadOnlyAdmin):
    list_display = ["id", "task_name", "periodic_id", "defer_timestamp", "job_id"]
    list_filter = ["task_name"]
    ordering = ["-id"]
