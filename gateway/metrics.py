"""The gateway's gauge, computed when beat is scraped (kernel/telemetry/metrics.py)."""

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.models import Operation
from kernel.telemetry.metrics import scraped


def _family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "gateway_operations_open",
        "Requests accepted whose answer event has not arrived yet (their operation is unsettled).",
    )


class OpenOperationsCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        return [_family()]

    def collect(self) -> Iterable[Metric]:
        family = _family()
        # On operation_open_idx (partial: settled_at IS NULL).
        family.add_metric([], Operation.objects.filter(settled_at__isnull=True).count())
        return [family]


scraped(OpenOperationsCollector())
