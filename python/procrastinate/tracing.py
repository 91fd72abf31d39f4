"""OpenTelemetry traces (the ``otel`` extra: opentelemetry-api).

A defer is a span (kind PRODUCER, child of whatever span is current: a web
request's, say), whose context the propagator writes into each job's
``headers`` (W3C trace context by default: ``traceparent``, ``tracestate``),
stored with the job. Each run of the job is a span (kind CONSUMER) whose
parent is that context, current while the task runs: the request's trace
shows the job it deferred, and what the task itself traces.

Nothing happens without opentelemetry-api, or while no tracer provider is
set (the application sets one with the SDK): no span, no header stored.
The driver calls ``defer`` from its one defer path (JobManager) and ``run``
from the worker's slots; docs/observability.md says more.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, TypeVar

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from procrastinate.worker.executor import JobRun

T = TypeVar("T")

#: The instrumentation scope of the spans.
TRACER_NAME = "procrastinate"
#: The messaging system the spans name (OpenTelemetry's messaging conventions).
SYSTEM = "procrastinate"

_tracers: dict[int, Any] = {}


def tracer() -> Any:
    """The tracer of the tracer provider set by the application; None
    without opentelemetry-api or before a provider is set."""
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None  # nothing would record the spans
    found = _tracers.get(id(provider))
    if found is None or found[0] is not provider:
        from procrastinate import _identity

        found = _tracers[id(provider)] = (
            provider, provider.get_tracer(TRACER_NAME, _identity.version())
        )
    return found[1]


def defer(
    objects: list[dict[str, Any]],
    send: Callable[[list[dict[str, Any]]], Generator[Any, Any, T]],
) -> Generator[Any, Any, T]:
    """``send(objects)`` (an operation's steps) within a defer span, each
    object given the span's context in its headers."""
    tracer_ = tracer()
    if tracer_ is None:
        return (yield from send(objects))
    tasks = sorted({str(obj.get("task_name")) for obj in objects})
    queues = sorted({str(obj.get("queue_name") or "default") for obj in objects})
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "defer",
        "messaging.destination.name": queues[0] if len(queues) == 1 else ",".join(queues),
        "procrastinate.task.name": tasks[0] if len(tasks) == 1 else ",".join(tasks),
    }
    if len(objects) > 1:
        attributes["messaging.batch.message_count"] = len(objects)
    span = tracer_.start_span(
        f"defer {attributes['procrastinate.task.name']}",
        kind=trace.SpanKind.PRODUCER,
        attributes=attributes,
    )
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    if carrier:
        objects = [{**obj, "headers": {**(obj.get("headers") or {}), **carrier}} for obj in objects]
    try:
        ids = yield from send(objects)
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()
        raise
    if isinstance(ids, list) and len(ids) == 1:
        span.set_attribute("messaging.message.id", str(ids[0]))
    span.end()
    return ids


async def _traced_run(tracer_: Any, run: JobRun, coro: Coroutine[Any, Any, T]) -> T:
    job = run.job
    parent = propagate.extract(job.headers) if job.headers else None
    span = tracer_.start_span(
        f"run {job.task_name}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": SYSTEM,
            "messaging.operation.type": "process",
            "messaging.operation.name": "run",
            "messaging.destination.name": job.queue,
            "messaging.message.id": str(job.id),
            "procrastinate.task.name": job.task_name,
            "procrastinate.job.attempt": job.attempts,
            "procrastinate.worker.name": run.context.worker_name or "",
        },
    )
    # In the job's own contextvars context (worker.slots): what the task
    # traces is a child of this span.
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        return await coro
    finally:
        otel_context.detach(token)
        span.set_attribute("procrastinate.job.outcome", run.outcome_kind)
        if run.exception is not None and run.outcome_kind == "failed":
            span.record_exception(run.exception)
            span.set_status(
                trace.Status(
                    trace.StatusCode.ERROR, f"{type(run.exception).__name__}: {run.exception}"
                )
            )
        span.end()


def run(tracer_: Any, run: JobRun, coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """``coro`` (the run of the job) within a run span of ``tracer_`` (the
    worker's, tracer() when it started) whose parent is the context stored
    at defer; ``coro`` itself when nothing traces."""
    if tracer_ is None:
        return coro
    return _traced_run(tracer_, run, coro)
