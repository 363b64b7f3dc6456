"""Which request and which event the current code works for, so every publish can say so, and
every log line (kernel.telemetry.logs)."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

_correlation_id: ContextVar[UUID | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[UUID | None] = ContextVar("causation_id", default=None)


def correlation_id() -> UUID | None:
    return _correlation_id.get()


def causation_id() -> UUID | None:
    return _causation_id.get()


@contextmanager
def message_context(*, correlation: UUID, causation: UUID | None = None) -> Iterator[None]:
    corr_token = _correlation_id.set(correlation)
    cause_token = _causation_id.set(causation)
    try:
        yield
    finally:
        _causation_id.reset(cause_token)
        _correlation_id.reset(corr_token)


@dataclass(frozen=True)
class Delivery:
    """One message being delivered to a consumer, as far as it can be read: a malformed one
    still names what it can."""

    consumer: str
    event_id: str | None = None
    event_type: str | None = None
    correlation_id: str | None = None
    # The ids the payload carries (its fields named *_id: order_id, user_id, ...).
    subjects: dict[str, str] = field(default_factory=dict)


_delivery: ContextVar[Delivery | None] = ContextVar("delivery", default=None)


def delivery() -> Delivery | None:
    return _delivery.get()


def _text(value: Any) -> str | None:
    return str(value)[:100] if isinstance(value, str | int | UUID) else None


@contextmanager
def delivery_context(consumer: str, message: Any) -> Iterator[Delivery]:
    """Name the delivery of ``message`` to ``consumer`` for what runs inside, retries and
    dead letters included."""
    envelope = message if isinstance(message, dict) else {}
    payload = envelope.get("payload")
    subjects = {
        key: text
        for key, value in (payload.items() if isinstance(payload, dict) else ())
        if isinstance(key, str) and key.endswith("_id") and (text := _text(value))
    }
    current = Delivery(
        consumer=consumer,
        event_id=_text(envelope.get("id")),
        event_type=_text(envelope.get("type")),
        correlation_id=_text(envelope.get("correlation_id")),
        subjects=subjects,
    )
    token = _delivery.set(current)
    try:
        yield current
    finally:
        _delivery.reset(token)
