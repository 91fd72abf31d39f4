from procrastinate.testing import run_deferred_jobs, run_deferred_jobs_async

from mailing import tasks


def test_send_mail(procrastinate_app):
    job_id = tasks.send_mail.defer(to="ada@example.com", subject="Hello")

    (outcome,) = run_deferred_jobs(procrastinate_app)

    assert (outcome.id, outcome.status.value, outcome.result) == (job_id, "succeeded", "sent")
    assert tasks.OUTBOX == ["ada@example.com: Hello"]


def test_a_bad_address_fails_after_its_retries(procrastinate_app):
    tasks.send_mail.defer(to="nobody", subject="Hello")

    (outcome,) = run_deferred_jobs(procrastinate_app)

    assert outcome.status.value == "failed"
    assert outcome.attempts == 3  # the first run and 2 retries
    assert isinstance(outcome.exception, ValueError)
    assert outcome.error == "ValueError: not an address: 'nobody'"


async def test_welcome_defers_mails_that_run_too(procrastinate_app):
    async with procrastinate_app.open_async():
        await tasks.welcome.defer_async(users=["ada@example.com", "alan@example.com"])

        outcomes = await run_deferred_jobs_async(procrastinate_app)

    assert [(o.task_name, o.result) for o in outcomes] == [
        ("mailing.tasks.welcome", 2),
        ("mailing.tasks.send_mail", "sent"),
        ("mailing.tasks.send_mail", "sent"),
    ]
    assert sorted(tasks.OUTBOX) == ["ada@example.com: Welcome", "alan@example.com: Welcome"]


def test_each_test_starts_from_an_empty_queue(procrastinate_app):
    assert procrastinate_app.job_manager.list_jobs() == []
