"""``procrastinate worker --processes N``: one supervisor, N worker processes.

Each worker process is the command the user started, run again: same
interpreter, same arguments (``sys.orig_argv``), same environment and
directory, plus ``PROCRASTINATE_SUPERVISED`` telling it which process it is.
Why a new process running the command rather than a fork: the supervisor
has loaded the app (its module may have opened connections, started threads
or an event loop, none of which survive a fork), and running the command
again loads the app, reads the options and sets up logging exactly as a
single worker does, through ``procrastinate``, ``python -m procrastinate``
and Django's ``manage.py procrastinate`` alike, with nothing to pickle.
multiprocessing's "spawn" would also start a fresh interpreter, but would
have to rebuild the command (Django's set-up included) from pickled state.

The supervisor holds no database connection beyond a first probe, which
refuses a bad DSN once instead of N times. Each worker process opens its own
pool, registers itself in procrastinate_workers (its own id, lease and
heartbeat) and runs ``--concurrency`` jobs at once.

How they talk: each worker process gets the read end of a pipe whose write
end only the supervisor holds. A byte on it is a stop request (the first
graceful, the next immediate, as the first and second SIGTERM/SIGINT of a
single worker); end of file means the supervisor is gone (even killed with
SIGKILL): the worker stops gracefully. Worker processes run in a session of
their own, so a Ctrl-C in a terminal reaches the supervisor only, which
passes each signal on once; one that also reaches them (systemd sends
SIGTERM to the whole control group) asks for the same graceful stop.

A worker process that ends while the supervisor is not stopping is logged
and started again: at once when it had run for RESTART_WINDOW seconds, else
after a back-off (RESTART_DELAY, doubled at each failure in a row, at most
MAX_RESTART_DELAY); after MAX_FAILED_STARTS failures in a row the supervisor
stops the others and exits with code 1. With ``--one-shot``, a worker process
that ends with code 0 is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from typing import Any, NamedTuple

from procrastinate import signals

logger = logging.getLogger(__name__)

#: The variable that makes the command a worker process of a supervisor:
#: "INDEX FD" (its number, from 1, and the read end of its pipe).
ENVIRONMENT_VARIABLE = "PROCRASTINATE_SUPERVISED"
#: A worker process ending within this many seconds of its start failed to start.
RESTART_WINDOW = 10.0
#: Back-off before starting again a process that failed to start (seconds),
#: doubled at each failure in a row, at most MAX_RESTART_DELAY.
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 15.0
#: Failures to start in a row after which the supervisor gives up.
MAX_FAILED_STARTS = 5
STOP_REQUEST = b"s"


def child_name(name: str, index: int) -> str:
    """The worker name of process ``index`` (from 1): ``worker-1``..."""
    return f"{name}-{index}"


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def child_command() -> list[str]:
    """The command line that started this process, to run it again."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    return [sys.executable, *argv[1:]]


# --- the worker process's side ---------------------------------------------------------


class Link(NamedTuple):
    """A worker process's link to its supervisor."""

    number: int  # from 1
    fd: int

    @classmethod
    def from_environment(cls) -> Link | None:
        """The link this process was started with (the variable is removed, so
        that processes the jobs start do not take it for theirs), or None."""
        raw = os.environ.pop(ENVIRONMENT_VARIABLE, "")
        if not raw:
            return None
        try:
            number, fd = (int(part) for part in raw.split())
            os.fstat(fd)
        except (ValueError, OSError) as exc:
            raise RuntimeError(
                f"{ENVIRONMENT_VARIABLE}={raw!r} is not a pipe from a supervisor: the "
                "variable is set by procrastinate worker --processes only"
            ) from exc
        return cls(number, fd)

    async def follow(self, coro: Any) -> None:
        """Run ``coro`` (the worker command) until it ends; each stop request
        of the supervisor cancels it (a worker stops gracefully at its first
        cancellation, at once at the second), and so does the supervisor's
        end (a graceful stop)."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(coro)
        requests = 0

        def readable() -> None:
            nonlocal requests
            try:
                data = os.read(self.fd, 64)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(self.fd)
                if requests == 0:
                    logger.warning(
                        "The supervisor is gone: stopping",
                        extra={"action": "supervisor_gone"},
                    )
                    requests = 1
                    task.cancel()
                return
            for _ in data:
                requests += 1
                if requests <= 2:
                    task.cancel()

        loop.add_reader(self.fd, readable)
        try:
            await task
        except asyncio.CancelledError:
            if not requests:  # cancelled from elsewhere
                raise
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(self.fd)
            os.close(self.fd)


# --- the supervisor ---------------------------------------------------------------------


class _Process:
    """One worker slot: its number, name and the process now in it."""

    def __init__(self, index: int, name: str):
        self.index = index
        self.name = name
        self.process: asyncio.subprocess.Process | None = None
        self.pipe: int | None = None  # write end
        self.failures = 0
        self.returncode: int | None = None


class Supervisor:
    """Runs ``processes`` worker processes of ``command`` until stopped."""

    def __init__(
        self, processes: int, name: str, command: list[str] | None = None,
        wait: bool = True, install_signal_handlers: bool = True,
    ):
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self.command = command or child_command()
        self.wait = wait
        self.install_signal_handlers = install_signal_handlers
        self.slots = [_Process(index, child_name(name, index)) for index in range(1, processes + 1)]
        self.requests = 0  # stop requests passed on
        self.stopping = asyncio.Event()
        self.gave_up: str | None = None

    def stop(self) -> None:
        """Pass a stop request on to every worker process: the first is a
        graceful stop, the second an immediate one."""
        self.requests += 1
        if self.requests == 1:
            logger.info(
                "Stop requested: stopping the worker processes",
                extra={"action": "stopping_supervisor"},
            )
        elif self.requests == 2:
            logger.info(
                "Immediate stop requested: passed on to the worker processes",
                extra={"action": "stopping_supervisor_now"},
            )
        else:
            return
        self.stopping.set()
        for slot in self.slots:
            self._request_stop(slot, 1)

    @staticmethod
    def _request_stop(slot: _Process, count: int) -> None:
        if slot.pipe is not None and count:
            with contextlib.suppress(OSError):  # it has just ended
                os.write(slot.pipe, STOP_REQUEST * count)

    async def run(self) -> int:
        """Until every worker process ended after a stop (or, with wait=False,
        after its work): exit code 0 when each ended with 0, else 1."""
        if os.name == "nt":
            raise RuntimeError("worker processes (--processes above 1) need a POSIX system")
        handlers = (
            signals.on_stop(self.stop, self.stop)
            if self.install_signal_handlers
            else contextlib.nullcontext()
        )
        with handlers:
            await asyncio.gather(*(self._keep(slot) for slot in self.slots))
        if self.gave_up is not None:
            return 1
        failed = [slot for slot in self.slots if slot.returncode != 0]
        for slot in failed:
            logger.error(
                f"Worker process {slot.name} ended with {describe_exit(slot.returncode or 0)}",
                extra={"action": "worker_process_failed", "worker_name": slot.name},
            )
        logger.info(
            "Every worker process stopped", extra={"action": "stop_supervisor"},
        )
        return 1 if failed else 0

    async def _keep(self, slot: _Process) -> None:
        """Keep a worker process in ``slot`` until the supervisor stops."""
        while not self.stopping.is_set():
            started = time.monotonic()
            returncode = await self._run_once(slot)
            if returncode is None or self.stopping.is_set():
                return
            if not self.wait and returncode == 0:
                return  # --one-shot: its work is done
            ran = time.monotonic() - started
            slot.failures = slot.failures + 1 if ran < RESTART_WINDOW else 0
            ended = f"Worker process {slot.name} (pid {slot.process and slot.process.pid}) " \
                f"ended unexpectedly ({describe_exit(returncode)}) after {ran:.1f} s"
            if slot.failures >= MAX_FAILED_STARTS:
                self.gave_up = (
                    f"{ended}: {slot.failures} failed starts in a row, giving up"
                )
                logger.error(
                    self.gave_up,
                    extra={"action": "give_up_worker_process", "worker_name": slot.name},
                )
                self.stop()
                return
            delay = (
                min(RESTART_DELAY * 2 ** (slot.failures - 1), MAX_RESTART_DELAY)
                if slot.failures else 0.0
            )
            logger.error(
                f"{ended}; starting it again in {delay:g} s",
                extra={"action": "restart_worker_process", "worker_name": slot.name,
                       "returncode": returncode, "delay": delay},
            )
            if delay:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)

    async def _run_once(self, slot: _Process) -> int | None:
        """Start a worker process in ``slot`` and wait for its end: its exit
        code (None if the supervisor was stopped before it started)."""
        read, write = os.pipe()
        env = {**os.environ, ENVIRONMENT_VARIABLE: f"{slot.index} {read}"}
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command, env=env, pass_fds=(read,), start_new_session=True,
            )
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        slot.process, slot.pipe = process, write
        # Stop requests made while it was starting.
        self._request_stop(slot, min(self.requests, 2))
        logger.info(
            f"Started worker process {slot.name} (pid {process.pid})",
            extra={"action": "start_worker_process", "worker_name": slot.name,
                   "pid": process.pid},
        )
        try:
            slot.returncode = await process.wait()
        finally:
            slot.pipe = None
            os.close(write)
        return slot.returncode
