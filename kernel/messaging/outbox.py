"""Publishing: an event is a row written with the change it reports, sent after commit."""

import logging
from collections.abc import Iterable
from datetime import timedelta
from uuid import uuid4

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, F
from django.db.models.expressions import RawSQL
from django.utils import timezone

from kernel.messaging import context, inbox
from kernel.messaging.events import CATALOG, Envelope, Event
from kernel.messaging.models import DeadLetter, DeliveryFailure, InboxEvent, OutboxEvent
from kernel.telemetry import tracing

logger = logging.getLogger(__name__)

DELIVER_TASK = "kernel.deliver"


def publish(*events: Event) -> list[Envelope]:
    """Record ``events`` in the outbox of the current transaction; they are sent once it commits.

    The events of one step go in one INSERT. Inside a handler each envelope inherits the
    correlation id of the event being handled and names it as its cause; inside an HTTP request
    it carries the request's correlation id. With tracing on it carries the current trace too,
    stored with it, so the relay sends it again in that trace.
    """
    now = timezone.now()
    correlation_id = context.correlation_id() or uuid4()
    trace = tracing.current_trace()
    envelopes = [
        Envelope(
            id=uuid4(),
            type=event.type_name(),
            version=event.version,
            occurred_at=now,
            correlation_id=correlation_id,
            causation_id=context.causation_id(),
            payload=event.model_dump(mode="json"),
            trace=trace,
        )
        for event in events
    ]
    messages = [envelope.model_dump(mode="json") for envelope in envelopes]
    # Written as sent: after commit they are, and if sending fails the row is reopened for the
    # relay. One statement less per event than marking it afterwards; a crash between commit
    # and send leaves a row that says sent, which the sweep sends again (no inbox row).
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            id=envelope.id,
            type=envelope.type,
            correlation_id=envelope.correlation_id,
            envelope=message,
            dispatched_at=now,
            last_sent_at=now,
            dispatch_attempts=1,
        )
        for envelope, message in zip(envelopes, messages, strict=True)
    )
    # One callback per call (not one per transaction): a rolled-back savepoint drops its own.
    transaction.on_commit(lambda: dispatch(messages))
    return envelopes


def send_to(consumer: str, message: dict) -> None:
    # argsrepr is what Flower and the logs show of the task's arguments. Given, it spares Celery
    # a repr of the whole envelope per message (0.7 ms of CPU per send), and reads better.
    current_app.send_task(
        DELIVER_TASK,
        args=(consumer, message),
        queue=consumer,
        argsrepr=f"{consumer}: {message['type']} {message['id']}",
        kwargsrepr="",
    )


def send(message: dict) -> None:
    """Hand one envelope to the broker: one task per consuming domain, on that domain's queue."""
    for consumer in CATALOG[message["type"]].consumers:
        send_to(consumer, message)


def _mark_sent(ids: list) -> None:
    now = timezone.now()
    OutboxEvent.objects.filter(id__in=ids, dispatched_at__isnull=True).update(
        dispatched_at=now, last_sent_at=now, dispatch_attempts=F("dispatch_attempts") + 1
    )


def dispatch(messages: Iterable[dict]) -> None:
    """Send committed outbox rows. One that fails is reopened, for the relay to send."""
    failed = []
    for message in messages:
        try:
            send(message)
        except Exception:
            logger.exception(
                "dispatch of %s %s failed; the relay will retry", message["type"], message["id"]
            )
            failed.append(message["id"])
    if failed:
        try:
            OutboxEvent.objects.filter(id__in=failed).update(dispatched_at=None)
        except Exception:
            # Still marked sent: the sweep sends it again, as after a crash.
            logger.exception("could not reopen %d outbox rows", len(failed))


def relay(*, older_than: float | None = None, batch: int | None = None) -> dict[str, int]:
    """The beat's safety net for everything published: two passes.

    1. Rows whose sending failed (the broker was down at commit) are sent again. They are
       claimed with SKIP LOCKED, so relays running side by side never send one row at once.
    2. :func:`sweep`: rows sent but not applied by a consumer long after (a crash between
       commit and send, a message the broker lost) are sent again to that consumer.

    Then dead letters whose event was applied after all are closed.
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
            _mark_sent(sent)
    if sent:
        logger.warning("outbox relay re-dispatched %d events", len(sent))
    swept = sweep(batch=limit)
    return {
        "dispatched": len(sent),
        **swept,
        "closed": inbox.dead_letters_close_applied(),
        "scrubbed": scrub_settled(),
    }


def _settle_applied() -> int:
    """Mark settled every sent event that each of its inbox consumers has applied (one query)."""
    pairs = inbox.inbox_pairs()
    outbox_table, inbox_table = OutboxEvent._meta.db_table, InboxEvent._meta.db_table
    expected = (
        "SELECT * FROM (VALUES " + ", ".join(["(%s, %s)"] * len(pairs)) + ") AS e(type, consumer)"
        if pairs
        else "SELECT NULL::text AS type, NULL::text AS consumer WHERE false"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {outbox_table} o SET settled_at = now()
                WHERE o.dispatched_at IS NOT NULL AND o.settled_at IS NULL
                  AND NOT EXISTS (
                    SELECT 1 FROM ({expected}) e
                    WHERE e.type = o.type AND NOT EXISTS (
                      SELECT 1 FROM {inbox_table} i
                      WHERE i.consumer = e.consumer AND i.event_id = o.id))""",
            [value for pair in pairs for value in pair],
        )
        return cursor.rowcount


def sweep(*, after: float | None = None, batch: int | None = None) -> dict[str, int]:
    """Send again what a consumer has not applied long after it was sent.

    The broker can lose a message that was sent (Redis restarted empty; a worker killed with
    the message unacknowledged, which Redis would only give back after its visibility timeout).
    An event counts as applied by a consumer when its inbox row exists. Events still missing a
    consumer are sent again to that consumer only, spaced exponentially (``after`` · 2^n), up to
    ``OUTBOX_MAX_REDELIVERIES`` times, then dead-lettered as undelivered. A consumer that is
    retrying the event (a recent delivery failure) is left to its retries.
    """
    base = settings.OUTBOX_REDELIVER_AFTER if after is None else after
    limit = batch or settings.OUTBOX_RELAY_BATCH
    now = timezone.now()
    settled = _settle_applied()
    resent = undelivered = 0
    with transaction.atomic():
        due = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=False, settled_at__isnull=True)
            .alias(
                due_at=RawSQL(
                    "last_sent_at + make_interval(secs => %s * power(2, redeliveries))",
                    (base,),
                    output_field=DateTimeField(),
                )
            )
            .filter(due_at__lte=now)
            .order_by("last_sent_at")[:limit]
        )
        ids = [row.id for row in due]
        done = set(InboxEvent.objects.filter(event_id__in=ids).values_list("consumer", "event_id"))
        done |= set(DeadLetter.objects.filter(event_id__in=ids).values_list("consumer", "event_id"))
        retrying = set(
            DeliveryFailure.objects.filter(
                event_id__in=ids,
                failed_at__gte=now - timedelta(seconds=settings.DELIVERY_BACKOFF_MAX * 2 + 10),
            ).values_list("consumer", "event_id")
        )
        finished = []
        for row in due:
            waiting = [c for c in inbox.inbox_consumers(row.type) if (c, row.id) not in done]
            missing = [c for c in waiting if (c, row.id) not in retrying]
            if not waiting:
                finished.append(row.id)
            elif not missing:
                continue
            elif row.redeliveries >= settings.OUTBOX_MAX_REDELIVERIES:
                for consumer in missing:
                    inbox.dead_letter(
                        consumer,
                        row.envelope,
                        reason=DeadLetter.Reason.UNDELIVERED,
                        error=f"not applied after {row.redeliveries} redeliveries",
                        attempts=row.redeliveries + 1,
                    )
                finished.append(row.id)
                undelivered += 1
            else:
                for consumer in missing:
                    send_to(consumer, row.envelope)
                OutboxEvent.objects.filter(pk=row.pk).update(
                    last_sent_at=now, redeliveries=F("redeliveries") + 1
                )
                resent += 1
        if finished:
            OutboxEvent.objects.filter(id__in=finished).update(settled_at=now)
    if resent or undelivered:
        logger.warning("outbox sweep sent %d events again; %d given up", resent, undelivered)
    return {"settled": settled + len(finished), "resent": resent, "undelivered": undelivered}


def scrub_settled() -> int:
    """Remove the secret fields (a password hash) from the envelopes of settled events: every
    consumer has applied them, and nothing sends a settled event again."""
    table = OutboxEvent._meta.db_table
    scrubbed = 0
    with connection.cursor() as cursor:
        for name, event_type in CATALOG.items():
            for field in event_type.secret_fields:
                cursor.execute(
                    f"""UPDATE {table} SET envelope = envelope #- %s
                        WHERE type = %s AND settled_at IS NOT NULL
                          AND envelope -> 'payload' ? %s""",
                    [["payload", field], name, field],
                )
                scrubbed += cursor.rowcount
    return scrubbed


def purge(*, days: int | None = None) -> int:
    """Forget settled outbox rows older than the retention period."""
    keep = settings.MESSAGING_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=keep)
    deleted, _ = OutboxEvent.objects.filter(
        settled_at__isnull=False, created_at__lt=cutoff
    ).delete()
    return deleted
