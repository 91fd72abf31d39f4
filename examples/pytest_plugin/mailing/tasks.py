"""A mailing app: the tasks under test."""

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())

#: Stands for the mail server.
OUTBOX: list[str] = []


@app.task(queue="mails", retry=procrastinate.RetryStrategy(max_attempts=2))
def send_mail(to: str, subject: str) -> str:
    if "@" not in to:
        raise ValueError(f"not an address: {to!r}")
    OUTBOX.append(f"{to}: {subject}")
    return "sent"


@app.task(queue="mails")
async def welcome(users: list[str]) -> int:
    """Defers one mail per user."""
    await send_mail.batch_defer_async(*({"to": user, "subject": "Welcome"} for user in users))
    return len(users)
