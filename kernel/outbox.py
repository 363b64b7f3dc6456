"""Publishing: an event is a row written with the change it reports, sent after commit."""

import logging
from collections.abc import Iterable
from datetime import timedelta
from uuid import uuid4

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kernel import context
from kernel.events import CATALOG, Envelope, Event
from kernel.models import OutboxEvent

logger = logging.getLogger(__name__)

DELIVER_TASK = "kernel.deliver"


def publish(event: Event) -> Envelope:
    """Record ``event`` in the outbox of the current transaction; it is sent once that commits.

    Inside a handler the envelope inherits the correlation id of the event being handled and
    names it as its cause; inside an HTTP request it carries the request's correlation id.
    """
    envelope = Envelope(
        id=uuid4(),
        type=event.type_name(),
        version=event.version,
        occurred_at=timezone.now(),
        correlation_id=context.correlation_id() or uuid4(),
        causation_id=context.causation_id(),
        payload=event.model_dump(mode="json"),
    )
    message = envelope.model_dump(mode="json")
    OutboxEvent.objects.create(
        id=envelope.id, type=envelope.type, correlation_id=envelope.correlation_id, envelope=message
    )
    # One callback per event (not one per transaction): a rolled-back savepoint drops its own.
    transaction.on_commit(lambda: dispatch([message]))
    return envelope


def send(message: dict) -> None:
    """Hand one envelope to the broker: one task per consuming domain, on that domain's queue."""
    for consumer in CATALOG[message["type"]].consumers:
        current_app.send_task(DELIVER_TASK, args=(consumer, message), queue=consumer)


def dispatch(messages: Iterable[dict]) -> None:
    """Send committed outbox rows and mark them. A failure leaves them for the relay."""
    sent = []
    for message in messages:
        try:
            send(message)
        except Exception:
            logger.exception(
                "dispatch of %s %s failed; the relay will retry", message["type"], message["id"]
            )
            continue
        sent.append(message["id"])
    if sent:
        try:
            OutboxEvent.objects.filter(id__in=sent, dispatched_at__isnull=True).update(
                dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1
            )
        except Exception:
            # Sent but not marked: the relay sends it again and the inbox drops the copy.
            logger.exception("could not mark %d outbox rows dispatched", len(sent))


def relay(*, older_than: float | None = None, batch: int | None = None) -> int:
    """Send outbox rows left undispatched (a crash after commit, the broker down).

    Rows are claimed with SKIP LOCKED, so relays running side by side never send one row at once.
    """
    grace = settings.OUTBOX_RELAY_GRACE if older_than is None else older_than
    limit = batch or settings.OUTBOX_RELAY_BATCH
    cutoff = timezone.now() - timedelta(seconds=grace)
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True, created_at__lte=cutoff)
            .order_by("created_at")
            .values_list("id", "envelope")[:limit]
        )
        sent = []
        for row_id, message in rows:
            try:
                send(message)
            except Exception:
                logger.exception("relay could not send %s; stopping this round", row_id)
                break
            sent.append(row_id)
        if sent:
            OutboxEvent.objects.filter(id__in=sent).update(
                dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1
            )
    if sent:
        logger.warning("outbox relay re-dispatched %d events", len(sent))
    return len(sent)


def purge(*, days: int | None = None) -> int:
    """Forget dispatched outbox rows older than the retention period."""
    keep = settings.MESSAGING_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=keep)
    deleted, _ = OutboxEvent.objects.filter(
        dispatched_at__isnull=False, created_at__lt=cutoff
    ).delete()
    return deleted
