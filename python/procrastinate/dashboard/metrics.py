"""``/metrics`` of the dashboard: the queue gauges of procrastinate.metrics
(QueueStats: one read of procrastinate_queue_backlog, kept a few seconds)
in Prometheus' text format. Needs the ``metrics`` extra (prometheus-client);
without it the route answers 501 and says so. Readable without the token,
as every page is: it tells no more than the overview."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


async def metrics(request: Request) -> Response:
    try:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        from procrastinate.metrics import QueueStats
    except ImportError as exc:
        return PlainTextResponse(
            "/metrics needs the metrics extra: pip install 'procrastinate-sqlcore[metrics]' "
            f"({exc})\n",
            status_code=501,
        )
    state = request.app.state
    registry = getattr(state, "metrics_registry", None)
    if registry is None:
        stats = QueueStats(state.procrastinate_app.connector)
        registry = CollectorRegistry()
        registry.register(stats)
        state.metrics_registry, state.queue_stats = registry, stats
    await state.queue_stats.refresh()
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
