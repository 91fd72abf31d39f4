"""``procrastinate shell`` prints what procrastinate 3.10's shell prints.

The expected lines below were printed by procrastinate 3.10.0's own shell,
run on its own schema with the same jobs (deferred with the same commands,
in the same order); the tests assert them literally.
"""

from __future__ import annotations

import pytest

# Jobs 1 to 6; the worker run fails job 5 (its task is unknown).
DEFERS = [
    ["sum_task", '{"a": 1, "b": 2}'],
    ["sum_task", '{"a": 1, "b": 2}'],
    ["--unknown", "--queue", "other", "ns:some.task"],
    ["--lock", "lk", "sum_task", '{"a": 3, "b": 4}'],
    ["--unknown", "--queue", "failing", "ns:some.task"],
    [
        "--at", "2030-01-01T00:00:00Z", "--queueing-lock", "ql", "--priority", "5",
        "sum_task", '{"a": 5, "b": 6}',
    ],
]

COMMANDS = """\
cancel 1
cancel 2
cancel 3
list_jobs
list_jobs lock=lk details
list_jobs id=6 details
list_jobs queueing_lock=ql
list_jobs status=cancelled
list_jobs task=ns:some.task
list_jobs queue=nothing
list_queues
list_queues status=cancelled
list_tasks
list_tasks queue=default
list_locks
retry 5
list_jobs id=5
exit
"""

# procrastinate 3.10.0's stdout for COMMANDS, byte for byte: the prompt has no
# newline when input is piped, so each first line of output follows it.
UPSTREAM_OUTPUT = """\
Welcome to the procrastinate shell.   Type help or ? to list commands.

procrastinate> #1 sum_task on default - [cancelled]
procrastinate> #2 sum_task on default - [cancelled]
procrastinate> #3 ns:some.task on other - [cancelled]
procrastinate> #1 sum_task on default - [cancelled]
#2 sum_task on default - [cancelled]
#3 ns:some.task on other - [cancelled]
#4 sum_task on default - [todo]
#5 ns:some.task on failing - [failed]
#6 sum_task on default - [todo]
procrastinate> #4 sum_task on default - [todo] (attempts=0, priority=0, scheduled_at=None, \
args={'a': 3, 'b': 4}, lock=lk)
procrastinate> #6 sum_task on default - [todo] (attempts=0, priority=5, \
scheduled_at=2030-01-01 00:00:00+00:00, args={'a': 5, 'b': 6}, lock=None)
procrastinate> #6 sum_task on default - [todo]
procrastinate> #1 sum_task on default - [cancelled]
#2 sum_task on default - [cancelled]
#3 ns:some.task on other - [cancelled]
procrastinate> #3 ns:some.task on other - [cancelled]
#5 ns:some.task on failing - [failed]
procrastinate> procrastinate> \
default: 4 jobs (todo: 2, doing: 0, succeeded: 0, failed: 0, cancelled: 2, aborted: 0)
failing: 1 jobs (todo: 0, doing: 0, succeeded: 0, failed: 1, cancelled: 0, aborted: 0)
other: 1 jobs (todo: 0, doing: 0, succeeded: 0, failed: 0, cancelled: 1, aborted: 0)
procrastinate> \
default: 2 jobs (todo: 0, doing: 0, succeeded: 0, failed: 0, cancelled: 2, aborted: 0)
other: 1 jobs (todo: 0, doing: 0, succeeded: 0, failed: 0, cancelled: 1, aborted: 0)
procrastinate> \
ns:some.task: 2 jobs (todo: 0, doing: 0, succeeded: 0, failed: 1, cancelled: 1, aborted: 0)
sum_task: 4 jobs (todo: 2, doing: 0, succeeded: 0, failed: 0, cancelled: 2, aborted: 0)
procrastinate> \
sum_task: 4 jobs (todo: 2, doing: 0, succeeded: 0, failed: 0, cancelled: 2, aborted: 0)
procrastinate> \
lk: 1 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 0, aborted: 0)
procrastinate> #5 ns:some.task on failing - [todo]
procrastinate> #5 ns:some.task on failing - [todo]
procrastinate> \
"""


@pytest.fixture
def jobs(run_cli, db):
    for args in DEFERS:
        result = run_cli("defer", *args)
        assert result.returncode == 0, result.stderr
    result = run_cli("worker", "--one-shot", "--queues", "failing")
    assert result.returncode == 0, result.stderr


def test_piped_commands_print_what_procrastinate_prints(run_cli, jobs):
    result = run_cli("shell", input=COMMANDS)

    assert result.returncode == 0, result.stderr
    assert result.stdout == UPSTREAM_OUTPUT
    assert result.stderr == ""


def test_one_command_from_the_command_line(run_cli, jobs):
    result = run_cli("shell", "list_queues", "queue=other")

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "other: 1 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 0, "
        "aborted: 0)\n"
    )


def test_retry_schedules_the_job_now_to_the_second(run_cli, jobs, db):
    before = db.execute("select date_trunc('second', now()) as t").fetchone()["t"]

    result = run_cli("shell", "retry", "5")

    assert result.stdout == "#5 ns:some.task on failing - [todo]\n"
    row = db.execute(
        "select status, scheduled_at, now() as now from procrastinate_jobs where id = 5"
    ).fetchone()
    assert row["status"] == "todo"
    assert before <= row["scheduled_at"] <= row["now"]
    assert row["scheduled_at"].microsecond == 0


def test_pause_and_resume_a_queue(run_cli, jobs, db):
    assert run_cli("shell", "retry", "5").returncode == 0

    result = run_cli(
        "shell", input="pause failing\npause failing\nlist_jobs queue=failing\n"
    )
    assert result.stdout.splitlines()[2:] == [
        "procrastinate> Queue failing paused",
        "procrastinate> Queue failing was already paused",
        "procrastinate> #5 ns:some.task on failing - [todo]",
        "procrastinate> ",
    ]
    assert db.execute("select queue_name from procrastinate_paused_queues").fetchall() == [
        {"queue_name": "failing"}
    ]
    # a paused queue is not fetched
    assert run_cli("worker", "--one-shot", "--queues", "failing").returncode == 0
    assert run_cli("shell", "list_jobs", "id=5").stdout == (
        "#5 ns:some.task on failing - [todo]\n"
    )

    assert run_cli("shell", "resume", "failing").stdout == "Queue failing resumed\n"
    assert run_cli("shell", "resume", "failing").stdout == "Queue failing was not paused\n"
    assert db.execute("select * from procrastinate_paused_queues").fetchall() == []
    assert run_cli("worker", "--one-shot", "--queues", "failing").returncode == 0
    assert run_cli("shell", "list_jobs", "id=5").stdout == (
        "#5 ns:some.task on failing - [failed]\n"
    )


def test_help_lists_every_command(run_cli, db):
    result = run_cli("shell", input="help\n")

    words = set(result.stdout.split())
    assert {
        "list_jobs", "list_queues", "list_tasks", "list_locks", "cancel", "retry",
        "pause", "resume", "help", "exit",
    } <= words
    assert "Documented commands (type help <topic>):" in result.stdout


def test_errors_are_one_line_and_the_shell_goes_on(run_cli, jobs):
    result = run_cli(
        "shell",
        input="cancel 42\nretry 4\ncancel abc\npause\nfoo\nlist_jobs id=4\n",
    )

    # The shell went on, and its exit code says that commands failed.
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[2:] == [
        "procrastinate> Error: job 42 not found",
        "procrastinate> Error: InvalidJobStatus: job 4 cannot be retried: its status is "
        "todo (only failed or running jobs can be)",
        "procrastinate> Error: expected a job id (a number), got 'abc'",
        "procrastinate> Error: expected one queue name, got ''",
        "procrastinate> *** Unknown syntax: foo",
        "procrastinate> #4 sum_task on default - [todo]",
        "procrastinate> ",
    ]


def test_exit_code_says_whether_the_commands_worked(run_cli, jobs):
    assert run_cli("shell", "list_jobs", "id=4").returncode == 0
    assert run_cli("shell", "cancel", "abc").returncode == 1
    assert run_cli("shell", "foo").returncode == 1
    assert run_cli("shell", input="list_queues\n").returncode == 0
    assert run_cli("shell", input="list_queues\ncancel 42\nlist_queues\n").returncode == 1


def test_list_queues_marks_paused_queues(run_cli, jobs):
    assert run_cli("shell", "pause", "other").returncode == 0
    assert run_cli("shell", "pause", "empty").returncode == 0

    lines = run_cli("shell", "list_queues").stdout.splitlines()
    assert (
        "other: 1 jobs (todo: 1, doing: 0, succeeded: 0, failed: 0, cancelled: 0, "
        "aborted: 0) (paused)"
    ) in lines
    assert "empty: 0 jobs (paused)" in lines
    assert not any(line.startswith("default:") and "paused" in line for line in lines)
    assert run_cli("shell", "list_queues", "queue=empty").stdout == "empty: 0 jobs (paused)\n"
    assert "empty" not in run_cli("shell", "list_queues", "status=todo").stdout


def test_list_limits_shows_each_limit_and_its_use(run_cli, jobs, db):
    # not procrastinate 3.10's (it has no limits): ours only
    assert run_cli("shell", "list_limits").stdout == "No limit\n"
    db.execute("select procrastinate_set_limit(queue_name => 'default', concurrency => 0)")
    db.execute("select procrastinate_set_limit(limit_key => 'tenant:1', concurrency => 2)")
    db.execute(
        "select procrastinate_set_limit(task_name => 'mail', rate => 100, per => '1 hour')"
    )
    db.execute(
        "select procrastinate_set_limit(queue_name => 'default', rate => 0, per => '1 minute')"
    )
    result = run_cli("shell", "list_limits")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "key tenant:1: 0/2 running, 0 waiting, 0 held back by the limit",
        "queue default: 0/0 running, 0 starts per 60 s (0 available now), 3 waiting, "
        "3 held back by the limit",
        "task mail: 100 starts per 3600 s (100 available now), 0 waiting, "
        "0 held back by the limit",
    ]
    assert run_cli("shell", "list_limits", "x").returncode == 1
