"""The app `make demo` runs: a few tasks that show what the queue does.

Run through scripts/demo.sh, which defers jobs from Python and from psql,
then runs a worker until the queue is empty.
"""

import os
import time

from procrastinate import App, PsycopgConnector, RetryStrategy

app = App(connector=PsycopgConnector(conninfo=os.environ.get("DEMO_DSN", "")))

# A flaky task fails on its first run; the retry policy travels with the job
# and SQL schedules the retry.
_flaky_runs: dict[int, int] = {}


@app.task(name="sum_task")
def sum_task(a, b):
    result = a + b
    print(f"Task sum_task({a}, {b}) finished with result: {result}", flush=True)
    return result


@app.task(name="flaky_task", retry=RetryStrategy(max_attempts=3, wait=0), pass_context=True)
def flaky_task(context, name):
    if context.job.attempts == 0:
        print(f"flaky_task({name!r}) attempt 1: failing on purpose", flush=True)
        raise ConnectionError("the remote service did not answer")
    print(f"flaky_task({name!r}) attempt {context.job.attempts + 1}: succeeded", flush=True)


@app.task(name="write_report")
async def write_report(user):
    # Two jobs share the lock "user:42": the second starts only after the first.
    print(f"write_report({user!r}) started at {time.monotonic():.3f}", flush=True)
    import asyncio

    await asyncio.sleep(0.3)
    print(f"write_report({user!r}) ended   at {time.monotonic():.3f}", flush=True)


def defer_from_python() -> None:
    with app.open():
        print("deferred sum_task, id", sum_task.defer(a=3, b=5), flush=True)
        print("deferred flaky_task, id", flaky_task.defer(name="demo"), flush=True)
        for part in ("part 1", "part 2"):
            job_id = write_report.configure(lock="user:42").defer(user=part)
            print(f"deferred write_report({part!r}) with lock user:42, id", job_id, flush=True)
