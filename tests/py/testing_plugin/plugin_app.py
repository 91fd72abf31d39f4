"""An app as a project would have one, for the plugin's tests."""

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())

CALLS = []


@app.task(name="add")
def add(a: int, b: int) -> int:
    return a + b


@app.task(name="add_async")
async def add_async(a: int, b: int) -> int:
    return a + b


@app.task(name="fail", retry=2)
def fail(message: str) -> None:
    CALLS.append(message)
    raise ValueError(message)


@app.task(name="fan_out")
def fan_out(n: int) -> None:
    for i in range(n):
        add.defer(a=i, b=i)


@app.task(name="fan_out_async")
async def fan_out_async(n: int) -> None:
    for i in range(n):
        await add_async.defer_async(a=i, b=1)


@app.periodic(cron="* * * * * *")
@app.task(name="every_second")
def every_second(timestamp: int) -> None:
    pass
