"""``procrastinate shell``: an interactive administration shell.

Each command is one JobManager call, so one call of the SQL core (the async
forms, run on the CLI's event loop while the shell reads its input in a
thread). Output lines are procrastinate's; ``pause`` and ``resume`` are ours.
"""

from __future__ import annotations

import cmd
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from procrastinate import jobs, manager, utils

COUNT_COLUMNS = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


class ShellError(Exception):
    """A command could not be carried out (shown in one line)."""


def parse_argument(arg: str) -> dict[str, str]:
    """``key=value`` words as a dict (a bare word maps to an empty string)."""
    pairs = (word.partition("=") for word in arg.split())
    return {key: value for key, _, value in pairs}


def format_job(job: jobs.Job, details: bool = False) -> str:
    line = f"#{job.id} {job.task_name} on {job.queue} - [{job.status}]"
    if details:
        line += (
            f" (attempts={job.attempts}, priority={job.priority}, "
            f"scheduled_at={job.scheduled_at}, args={job.task_kwargs}, lock={job.lock})"
        )
    return line


def job_id_argument(arg: str) -> int:
    try:
        return int(arg.strip())
    except ValueError:
        raise ShellError(f"expected a job id (a number), got {arg.strip()!r}") from None


class ProcrastinateShell(cmd.Cmd):
    intro = "Welcome to the procrastinate shell.   Type help or ? to list commands.\n"
    prompt = "procrastinate> "

    def __init__(self, job_manager: manager.JobManager):
        super().__init__()
        self.job_manager = job_manager
        #: Whether a command failed: `procrastinate shell` then exits 1.
        self.failed = False

    call = staticmethod(utils.async_to_sync)

    def onecmd(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except (ShellError, TypeError, ValueError, LookupError) as exc:
            print(f"Error: {exc}")
        except Exception as exc:  # noqa: BLE001 - the shell goes on
            print(f"Error: {type(exc).__name__}: {exc}")
        self.failed = True
        return False

    def default(self, line: str) -> None:
        super().default(line)  # "*** Unknown syntax"
        self.failed = True

    def emptyline(self) -> bool:
        return False  # do not repeat the last command

    def do_exit(self, _: str) -> bool:
        """Leave the shell (also: end of input, Ctrl-D)."""
        return True

    do_EOF = do_exit

    def do_list_jobs(self, arg: str) -> None:
        """List jobs, by id.
        list_jobs [id=ID] [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
                  [queueing_lock=QUEUEING_LOCK] [details]
        With details: attempts, priority, schedule, arguments and lock as well.
        Example: list_jobs queue=default status=failed details
        """
        filters: dict[str, Any] = parse_argument(arg)
        details = filters.pop("details", None) is not None
        if "id" in filters:
            filters["id"] = job_id_argument(filters["id"])
        for job in self.call(self.job_manager.list_jobs_async, **filters):
            print(format_job(job, details=details))

    def _print_counts(
        self,
        method: Callable[..., Awaitable[list[Any]]],
        filters: dict[str, str],
        marked: Collection[str] = (),
    ) -> set[str]:
        names = set()
        for row in self.call(method, **filters):
            counts = ", ".join(f"{column}: {row[column]}" for column in COUNT_COLUMNS)
            mark = " (paused)" if row["name"] in marked else ""
            print(f"{row['name']}: {row['jobs_count']} jobs ({counts}){mark}")
            names.add(row["name"])
        return names

    def do_list_queues(self, arg: str) -> None:
        """Count jobs per queue and status; paused queues are marked, and
        listed even without jobs.
        list_queues [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        filters = parse_argument(arg)
        paused = set(self.call(self.job_manager.list_paused_queues_async))
        listed = self._print_counts(self.job_manager.list_queues_async, filters, marked=paused)
        if not set(filters) - {"queue"}:  # jobs filters would hide a queue without jobs
            for name in sorted(paused - listed):
                if filters.get("queue", name) == name:
                    print(f"{name}: 0 jobs (paused)")

    def do_list_tasks(self, arg: str) -> None:
        """Count jobs per task and status.
        list_tasks [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        self._print_counts(self.job_manager.list_tasks_async, parse_argument(arg))

    def do_list_locks(self, arg: str) -> None:
        """Count jobs per lock and status.
        list_locks [queue=QUEUE] [task=TASK] [status=STATUS] [lock=LOCK]
        """
        self._print_counts(self.job_manager.list_locks_async, parse_argument(arg))

    def do_list_limits(self, arg: str) -> None:
        """List the limits: scope (queue, task or key), name, the concurrency
        limit with the jobs running under it, the rate limit with the starts
        its bucket allows now, the jobs waiting, and those held back by it.
        list_limits
        """
        if arg.strip():
            raise ShellError(f"list_limits takes no argument, got {arg.strip()!r}")
        rows = self.call(self.job_manager.list_limits_async)
        if not rows:
            print("No limit")
        for row in rows:
            parts = []
            if row["concurrency"] is not None:
                parts.append(f"{row['in_use']}/{row['concurrency']} running")
            if row["rate"] is not None:
                parts.append(
                    f"{row['rate']} starts per {row['per']:g} s "
                    f"({int(row['tokens'])} available now)"
                )
            parts.append(f"{row['waiting']} waiting, {row['held_back']} held back by the limit")
            print(f"{row['scope']} {row['name']}: " + ", ".join(parts))

    def do_retry(self, arg: str) -> None:
        """Put a failed job back in its queue, to run now.
        retry JOB_ID
        """
        # Scheduled now, to the second, as procrastinate's shell does.
        retry_at = utils.utcnow().replace(microsecond=0)
        self._change_job(self.job_manager.retry_job_by_id_async, arg, retry_at=retry_at)

    def do_cancel(self, arg: str) -> None:
        """Cancel a job that waits in its queue.
        cancel JOB_ID
        """
        self._change_job(self.job_manager.cancel_job_by_id_async, arg)

    def _change_job(self, method: Callable[..., Awaitable[Any]], arg: str, **kwargs: Any) -> None:
        job_id = job_id_argument(arg)
        self.call(method, job_id=job_id, **kwargs)
        found = self.call(self.job_manager.list_jobs_async, id=job_id)
        if not found:
            raise ShellError(f"job {job_id} not found")
        print(format_job(found[0]))

    def _switch_queue(self, method: Callable[..., Awaitable[bool]], arg: str, *said: str) -> None:
        if len(arg.split()) != 1:
            raise ShellError(f"expected one queue name, got {arg.strip()!r}")
        queue = arg.strip()
        print(f"Queue {queue} {said[0] if self.call(method, queue=queue) else said[1]}")

    def do_pause(self, arg: str) -> None:
        """Stop workers from fetching a queue's jobs; running jobs finish and
        deferring still works.
        pause QUEUE
        """
        self._switch_queue(self.job_manager.pause_queue_async, arg, "paused", "was already paused")

    def do_resume(self, arg: str) -> None:
        """Let workers fetch a paused queue again (they are woken at once).
        resume QUEUE
        """
        self._switch_queue(self.job_manager.resume_queue_async, arg, "resumed", "was not paused")
