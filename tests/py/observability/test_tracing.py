"""OpenTelemetry traces (procrastinate.tracing), read from the SDK's
in-memory exporter: a defer is a span whose context is stored with the job
(its headers), and the run of the job is a span whose parent is that
context, so a web request's trace shows the job it deferred."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import procrastinate
from procrastinate import tracing


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider recording in memory, as the application's
    global one for this test (the real global one can be set only once)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    yield memory
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def headers(db: psycopg.Connection, job_id: int) -> Any:
    row = db.execute("select headers from procrastinate_jobs where id = %s", [job_id]).fetchone()
    return row["headers"]


def register(app: procrastinate.App) -> None:
    inner = trace.get_tracer("the task's own code")

    @app.task(name="send_mail", queue="mail")
    async def send_mail(to: str) -> None:
        with inner.start_as_current_span("smtp"):
            pass

    @app.task(name="fails", retry=1)
    def fails() -> None:
        raise ValueError("no")


async def test_the_run_span_is_a_child_of_the_defer_span_of_a_web_request(
    app: procrastinate.App, db: psycopg.Connection, exporter: InMemorySpanExporter
):
    register(app)
    web = trace.get_tracer("web app")
    with web.start_as_current_span("POST /signup"):
        job_id = await app.tasks["send_mail"].defer_async(to="a@example.com")

    await app.run_worker_async(wait=False, install_signal_handlers=False)

    spans = by_name(exporter)
    request, defer, run, smtp = (
        spans["POST /signup"], spans["defer send_mail"], spans["run send_mail"], spans["smtp"]
    )
    # one trace, from the request to what the task did
    trace_id = request.context.trace_id
    assert {span.context.trace_id for span in (defer, run, smtp)} == {trace_id}
    assert defer.parent is not None and defer.parent.span_id == request.context.span_id
    # the run's parent is the defer's context, as stored with the job
    assert run.parent is not None and run.parent.span_id == defer.context.span_id
    assert run.parent.is_remote
    assert smtp.parent is not None and smtp.parent.span_id == run.context.span_id
    assert headers(db, job_id) == {"traceparent": traceparent(defer)}

    assert defer.kind is trace.SpanKind.PRODUCER and run.kind is trace.SpanKind.CONSUMER
    assert defer.attributes["messaging.destination.name"] == "mail"
    assert defer.attributes["messaging.message.id"] == str(job_id)
    assert run.attributes["messaging.message.id"] == str(job_id)
    assert run.attributes["procrastinate.task.name"] == "send_mail"
    assert run.attributes["procrastinate.job.outcome"] == "succeeded"
    assert run.status.status_code is trace.StatusCode.UNSET


async def test_each_run_of_a_retried_job_is_a_child_of_its_defer(
    app: procrastinate.App, exporter: InMemorySpanExporter
):
    register(app)
    await app.tasks["fails"].defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    spans = exporter.get_finished_spans()
    (defer,) = [span for span in spans if span.name == "defer fails"]
    runs = [span for span in spans if span.name == "run fails"]
    assert [run.attributes["procrastinate.job.attempt"] for run in runs] == [0, 1]
    for run in runs:
        assert run.parent is not None and run.parent.span_id == defer.context.span_id
        assert run.status.status_code is trace.StatusCode.ERROR
        assert run.events[0].name == "exception"
        assert run.attributes["procrastinate.job.outcome"] == "failed"


async def test_a_batch_defer_is_one_span_parent_of_every_run(
    app: procrastinate.App, db: psycopg.Connection, exporter: InMemorySpanExporter
):
    register(app)
    ids = await app.tasks["send_mail"].batch_defer_async({"to": "a"}, {"to": "b"})
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    spans = exporter.get_finished_spans()
    (defer,) = [span for span in spans if span.name.startswith("defer")]
    assert defer.attributes["messaging.batch.message_count"] == 2
    runs = [span for span in spans if span.name == "run send_mail"]
    assert len(runs) == 2
    assert all(run.parent.span_id == defer.context.span_id for run in runs)  # type: ignore[union-attr]
    assert {headers(db, job_id)["traceparent"] for job_id in ids} == {traceparent(defer)}


def test_a_sync_defer_is_traced_too(
    sync_app: procrastinate.App, db: psycopg.Connection, exporter: InMemorySpanExporter
):
    job_id = sync_app.configure_task("anything").defer(x=1)
    (defer,) = exporter.get_finished_spans()
    assert defer.name == "defer anything"
    assert headers(db, job_id) == {"traceparent": traceparent(defer)}


async def test_a_job_deferred_from_sql_with_a_traceparent_joins_that_trace(
    app: procrastinate.App, db: psycopg.Connection, exporter: InMemorySpanExporter
):
    register(app)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    db.execute(
        "select procrastinate_defer_jobs(%s::jsonb)",
        [f'[{{"task_name": "send_mail", "args": {{"to": "x"}}, '
         f'"headers": {{"traceparent": "{parent}"}}}}]'],
    )
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    run = by_name(exporter)["run send_mail"]
    assert run.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert run.parent is not None and run.parent.span_id == 0xB7AD6B7169203331


async def test_nothing_is_traced_nor_stored_without_a_tracer_provider(
    app: procrastinate.App, db: psycopg.Connection
):
    """The API without an SDK's provider (the global one, never set here)."""
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.tracer() is None
    job_id = await app.configure_task("anything").defer_async()
    assert headers(db, job_id) is None


async def test_nothing_is_traced_nor_stored_without_the_otel_extra(
    app: procrastinate.App, db: psycopg.Connection, exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
):
    # as if `from opentelemetry import ...` had failed
    monkeypatch.setattr(tracing, "trace", None)
    register(app)
    job_id = await app.tasks["send_mail"].defer_async(to="x")
    await app.run_worker_async(wait=False, install_signal_handlers=False)
    assert headers(db, job_id) is None
    # only the task's own span, which the test's provider records
    assert [span.name for span in exporter.get_finished_spans()] == ["smtp"]
