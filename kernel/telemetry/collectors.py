"""The messaging kernel's gauges, computed when beat is scraped: each a short query on a
partial index, or one round trip to the broker."""

from collections.abc import Iterable

import redis
from celery import current_app
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kernel.messaging import inbox
from kernel.messaging.models import DeadLetter, OutboxEvent
from kernel.telemetry.metrics import scraped


def _outbox_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "messaging_outbox_unsent",
            "Outbox rows whose sending failed (the broker was down), waiting for the relay.",
        ),
        GaugeMetricFamily(
            "messaging_outbox_oldest_unsent_age_seconds",
            "Age of the oldest unsent outbox row (0 when none).",
        ),
        GaugeMetricFamily(
            "messaging_outbox_unsettled",
            "Sent outbox rows that a consumer has not applied yet (in flight, or lost).",
        ),
    )


class OutboxCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        return _outbox_families()

    def collect(self) -> Iterable[Metric]:
        unsent, oldest_age, unsettled = _outbox_families()
        # Each on its partial index: outbox_undispatched_idx, outbox_unsettled_idx.
        backlog = OutboxEvent.objects.filter(dispatched_at__isnull=True).aggregate(
            rows=Count("pk"), oldest=Min("created_at")
        )
        unsent.add_metric([], backlog["rows"])
        oldest = backlog["oldest"]
        oldest_age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
        in_flight = OutboxEvent.objects.filter(dispatched_at__isnull=False, settled_at__isnull=True)
        unsettled.add_metric([], in_flight.count())
        return [unsent, oldest_age, unsettled]


def _dead_letters_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "messaging_dead_letters_open",
        "Dead letters no one has resolved: their consumer has not applied the event since.",
        labels=["consumer"],
    )


class DeadLetterCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        return [_dead_letters_family()]

    def collect(self) -> Iterable[Metric]:
        family = _dead_letters_family()
        # On deadletter_open_idx (partial: closed_at IS NULL).
        counts = dict(
            DeadLetter.objects.filter(closed_at__isnull=True)
            .values_list("consumer")
            .annotate(n=Count("pk"))
            .values_list("consumer", "n")
        )
        consumers = {consumer for consumer, _ in inbox.registered()} | set(counts)
        for consumer in sorted(consumers):
            family.add_metric([consumer], counts.get(consumer, 0))
        return [family]


def _queue_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "messaging_queue_length",
        "Messages waiting in a domain's queue (the length of its Redis list).",
        labels=["queue"],
    )


class QueueCollector(Collector):
    _client: redis.Redis | None = None

    def describe(self) -> Iterable[Metric]:
        return [_queue_family()]

    def collect(self) -> Iterable[Metric]:
        if self._client is None:
            self._client = redis.Redis.from_url(
                current_app.conf.broker_url, socket_connect_timeout=2, socket_timeout=2
            )
        names = [queue.name for queue in current_app.conf.task_queues or ()]
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
        family = _queue_family()
        for name, length in zip(names, pipe.execute(), strict=True):
            family.add_metric([name], length)
        return [family]


scraped(OutboxCollector())
scraped(DeadLetterCollector())
scraped(QueueCollector())
