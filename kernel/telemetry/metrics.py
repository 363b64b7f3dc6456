"""Prometheus metrics: the messaging kernel's own, the registry a process serves, and the
endpoint of a Celery worker or of beat.

Several processes, one endpoint: a process started with ``PROMETHEUS_MULTIPROC_DIR`` in its
environment (the API's gunicorn workers, a worker's prefork children) writes its values to
files there, and whichever serves them (any API process at ``/metrics``, a worker's main process
on ``METRICS_PORT``) adds up the files of every process. ``scripts/entrypoint.sh`` gives each
container its own directory and empties it at start.

Beat, a singleton, also serves what the database and the broker already know, computed when it
is scraped (``collectors``): outbox backlog, open dead letters, queue lengths, and whatever
gauges the domains add in a ``metrics`` module of their own (:func:`scraped`).
"""

import logging
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# From a few milliseconds (one hop on an idle system) to the outbox sweep's redeliveries.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

DELIVERIES = Counter(
    "messaging_deliveries",
    "Messages a consumer took off its queue and applied, or found applied already (duplicate).",
    ["consumer", "event_type", "result"],
)
RETRIES = Counter(
    "messaging_delivery_retries",
    "Failed attempts to apply an event, each retried with backoff.",
    ["consumer", "event_type"],
)
DEAD_LETTERS = Counter(
    "messaging_dead_letters",
    "Messages made dead letters (malformed, unknown, failing past their retries, undelivered).",
    ["consumer", "event_type", "reason"],
)
LAG = Histogram(
    "messaging_event_lag_seconds",
    "From an event's occurred_at to its consumer's commit of it.",
    ["consumer", "event_type"],
    buckets=LAG_BUCKETS,
)


def enabled() -> bool:
    return settings.METRICS_ENABLED


def delivered(consumer: str, message: dict[str, Any], *, applied: bool) -> None:
    """A delivery's outcome; for an applied event, its time since it occurred."""
    if not settings.METRICS_ENABLED:
        return
    event_type = message["type"]
    if not applied:
        DELIVERIES.labels(consumer, event_type, "duplicate").inc()
        return
    DELIVERIES.labels(consumer, event_type, "applied").inc()
    occurred = datetime.fromisoformat(message["occurred_at"])
    LAG.labels(consumer, event_type).observe((timezone.now() - occurred).total_seconds())


def retried(consumer: str, event_type: str) -> None:
    if settings.METRICS_ENABLED:
        RETRIES.labels(consumer, event_type).inc()


def dead_lettered(consumer: str, event_type: str, reason: str) -> None:
    if settings.METRICS_ENABLED:
        DEAD_LETTERS.labels(consumer, event_type, reason).inc()


def registry() -> CollectorRegistry:
    """What this process serves: every process's values when they are kept in files, else its
    own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return merged
    return REGISTRY


_SCRAPED: list[Collector] = []


def scraped(collector: Collector) -> Collector:
    """Add ``collector`` to the gauges beat computes when scraped: a short query each, on an
    index (a domain's ``metrics`` module calls this)."""
    _SCRAPED.append(collector)
    return collector


def load_scraped() -> None:
    """Register the kernel's scrape-time gauges and those of every app's ``metrics`` module."""
    from kernel.telemetry import collectors  # noqa: F401 - registers the kernel's gauges

    autodiscover_modules("metrics")


class ScrapeTimeCollectors(Collector):
    """Runs every scrape-time collector; one that fails (the database down) is left out of this
    scrape and logged, so the others still answer. The scrape's own thread closes its database
    connection after it."""

    def collect(self) -> Iterable[Metric]:
        try:
            for collector in _SCRAPED:
                try:
                    yield from list(collector.collect())
                except Exception:
                    logger.exception("metrics: %s failed", type(collector).__name__)
        finally:
            connections.close_all()


def serve(*, scrape_time: bool = False) -> None:
    """Serve this process's metrics on METRICS_PORT (none when 0), in a thread of its own."""
    port = settings.METRICS_PORT
    if not (settings.METRICS_ENABLED and port):
        return
    served = registry()
    if scrape_time:
        load_scraped()
        served = CollectorRegistry()
        served.register(_Union(registry()))
        served.register(ScrapeTimeCollectors())
    try:
        start_http_server(port, addr=settings.METRICS_ADDRESS, registry=served)
    except (OSError, OverflowError) as exc:
        # The process's work matters more than its metrics: it goes on without them.
        logger.error("metrics: cannot listen on %s:%s (%s)", settings.METRICS_ADDRESS, port, exc)
        return
    logger.info("metrics on http://%s:%s/metrics", settings.METRICS_ADDRESS, port)


class _Union(Collector):
    """Another registry's metrics, inside this one."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterable[Metric]:
        return self.inner.collect()


def exposed_names() -> set[str]:
    """The sample names this process's metrics and the scrape-time gauges expose, also of
    families without samples yet (a labelled counter nobody has incremented): what a dashboard
    or an alert may refer to. The scrape-time collectors describe theirs without a query."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    families = [*REGISTRY.collect()]
    for collector in _SCRAPED:
        families.extend(collector.describe())
    return {
        family.name + suffix for family in families for suffix in suffixes.get(family.type, ("",))
    }
