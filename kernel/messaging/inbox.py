"""Consuming: each domain registers its handlers; each event is applied once per consumer."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError

from kernel.messaging.context import message_context
from kernel.messaging.events import CATALOG, Envelope, Event
from kernel.messaging.models import DeadLetter, DeliveryFailure, InboxEvent
from kernel.telemetry import metrics

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
HandlerFunc = Callable[[Any, Envelope], None]


@dataclass(frozen=True)
class Handler:
    consumer: str
    event: type[Event]
    func: HandlerFunc


_HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(
    event_type: type[E], *, consumer: str
) -> Callable[[Callable[[E, Envelope], None]], Callable[[E, Envelope], None]]:
    """Register ``func`` as ``consumer``'s handler of ``event_type``. Every handler applies an
    event once, through the inbox, whose row is also how the sweep knows it arrived."""

    def register(func: Callable[[E, Envelope], None]) -> Callable[[E, Envelope], None]:
        if consumer not in event_type.consumers:
            raise ValueError(
                f"{consumer} handles {event_type.type_name()} but the catalog does not list it "
                "as a consumer"
            )
        key = (consumer, event_type.type_name())
        if key in _HANDLERS:
            raise ValueError(f"{consumer} handles {event_type.type_name()} twice")
        _HANDLERS[key] = Handler(consumer, event_type, func)
        return func

    return register


def registered() -> dict[tuple[str, str], Handler]:
    return dict(_HANDLERS)


def inbox_pairs() -> list[tuple[str, str]]:
    """(event type, consumer) for every handler: each records its events in the inbox."""
    return sorted((name, consumer) for consumer, name in _HANDLERS)


def inbox_consumers(event_type: str) -> list[str]:
    return [consumer for name, consumer in inbox_pairs() if name == event_type]


class PoisonMessage(Exception):
    """A message that no retry can make acceptable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse(consumer: str, message: Any) -> tuple[Handler, Envelope, Event]:
    try:
        envelope = Envelope.model_validate(message)
    except ValidationError as exc:
        raise PoisonMessage(DeadLetter.Reason.MALFORMED, str(exc)) from exc
    handler = _HANDLERS.get((consumer, envelope.type))
    if handler is None:
        known = "unknown to the catalog" if envelope.type not in CATALOG else "not handled here"
        raise PoisonMessage(DeadLetter.Reason.UNKNOWN_TYPE, f"{envelope.type} is {known}")
    if envelope.version != handler.event.version:
        raise PoisonMessage(
            DeadLetter.Reason.UNSUPPORTED_VERSION,
            f"{envelope.type} v{envelope.version}; this consumer reads v{handler.event.version}",
        )
    try:
        event = handler.event.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PoisonMessage(DeadLetter.Reason.MALFORMED, str(exc)) from exc
    return handler, envelope, event


_INBOX = InboxEvent._meta.db_table
_CLAIM_SQL = f"""
    INSERT INTO {_INBOX} (consumer, event_id, event_type, received_at, deliveries)
    VALUES (%s, %s, %s, now(), 1)
    ON CONFLICT (consumer, event_id) DO UPDATE SET deliveries = {_INBOX}.deliveries + 1
    RETURNING deliveries
"""


def _claim(consumer: str, envelope: Envelope) -> bool:
    """Record the event for this consumer; False if it was applied already.

    A concurrent copy waits on the row lock until the first commits, then sees it as done; if
    the first rolls back, the copy becomes the first.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [consumer, envelope.id, envelope.type])
        (deliveries,) = cursor.fetchone()
    return deliveries == 1


def consume(consumer: str, message: Any) -> bool:
    """Apply one message for ``consumer``. Returns False for a duplicate, which changes nothing."""
    handler, envelope, event = parse(consumer, message)
    with (
        message_context(correlation=envelope.correlation_id, causation=envelope.id),
        transaction.atomic(),
    ):
        if not _claim(consumer, envelope):
            logger.info("%s: %s %s already applied", consumer, envelope.type, envelope.id)
            return False
        handler.func(event, envelope)
    return True


def dead_letter(
    consumer: str, message: Any, *, reason: str, error: str, attempts: int = 1
) -> DeadLetter:
    envelope = message if isinstance(message, dict) else {}
    event_id = envelope.get("id") if _is_uuid(envelope.get("id")) else None
    logger.error("dead letter for %s (%s): %s", consumer, reason, error)
    metrics.dead_lettered(consumer, event_type_of(message), reason)
    return DeadLetter.objects.create(
        consumer=consumer,
        event_id=event_id,
        event_type=str(envelope.get("type", ""))[:100],
        message=message,
        reason=reason,
        error=error[:10_000],
        attempts=attempts,
    )


def dead_letters_close_applied() -> int:
    """Close every open dead letter whose event its consumer has applied after all (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {DeadLetter._meta.db_table} d SET closed_at = now()
                WHERE d.closed_at IS NULL AND d.event_id IS NOT NULL AND EXISTS (
                  SELECT 1 FROM {_INBOX} i
                  WHERE i.consumer = d.consumer AND i.event_id = d.event_id)"""
        )
        return cursor.rowcount


def failure_record(consumer: str, message: Any, *, attempt: int, error: str) -> None:
    """Note a failed attempt; best effort, since the database may be what failed."""
    envelope = message if isinstance(message, dict) else {}
    try:
        DeliveryFailure.objects.create(
            consumer=consumer,
            event_id=envelope.get("id") if _is_uuid(envelope.get("id")) else None,
            event_type=str(envelope.get("type", ""))[:100],
            attempt=attempt,
            error=error[:10_000],
        )
    except Exception:
        logger.warning("could not record the failure of %s on %s", consumer, envelope.get("id"))


def event_type_of(message: Any) -> str:
    """A message's event type as a metric's label: a type of the catalog, else "unknown"."""
    event_type = message.get("type") if isinstance(message, dict) else None
    return event_type if event_type in CATALOG else "unknown"


def _is_uuid(value: Any) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


def purge(*, days: int | None = None) -> int:
    keep = settings.MESSAGING_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=keep)
    deleted, _ = InboxEvent.objects.filter(received_at__lt=cutoff).delete()
    DeliveryFailure.objects.filter(failed_at__lt=cutoff).delete()
    return deleted
