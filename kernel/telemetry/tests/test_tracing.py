"""Tracing off costs nothing and writes nothing; the envelope's trace field is optional."""

import sys
import uuid

import pytest
from django.utils import timezone

from kernel.messaging import outbox
from kernel.messaging.events import Envelope, Event
from kernel.messaging.models import OutboxEvent
from kernel.telemetry import tracing


def test_tracing_is_off_without_an_endpoint_and_no_sdk_is_loaded():
    # The suite's own process runs without OTEL_EXPORTER_OTLP_ENDPOINT nor a span file.
    assert not tracing.enabled()
    assert tracing.current_trace() is None
    assert "opentelemetry.sdk.trace" not in sys.modules


def test_an_envelope_stored_before_the_trace_field_still_parses():
    stored = {
        "id": str(uuid.uuid4()),
        "type": "UserCreated",
        "version": 1,
        "occurred_at": timezone.now().isoformat(),
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "payload": {},
    }
    assert Envelope.model_validate(stored).trace is None


class Probe(Event):
    """An event of no catalog: it is only written, never sent."""

    value: int


@pytest.mark.django_db(transaction=True)
def test_with_tracing_off_a_published_envelope_carries_no_trace(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        [envelope] = outbox.publish(Probe(value=1))
    assert envelope.trace is None
    assert OutboxEvent.objects.get(id=envelope.id).envelope["trace"] is None
