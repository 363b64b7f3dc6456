"""The kernel's Celery tasks: delivery of events to a domain, the outbox relay, the purge."""

import logging
from collections.abc import Callable
from typing import Any

import redis
from celery import Task, shared_task
from django.conf import settings
from django.db import close_old_connections
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from kernel.messaging import inbox, outbox
from kernel.messaging.models import DeadLetter
from kernel.telemetry import metrics

logger = logging.getLogger(__name__)

# Faults of the infrastructure, worth retrying soon; anything else is retried too (a handler
# may meet a lock timeout or a bug fixed by a deploy), but a poison message never is.
TRANSIENT = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    redis.ConnectionError,
    redis.TimeoutError,
)


def housekeeping(name: str, **options: Any) -> Callable:
    """A task beat runs every few seconds or hours (the relay, the sweeps, the expiries).

    It sends no task events: Flower's task list shows the deliveries an operator looks for,
    instead of a relay every few seconds burying them. Its failures are in its worker's log.
    """
    return shared_task(name=name, acks_late=True, send_events=False, **options)


def backoff(retries: int) -> int:
    return min(2**retries, settings.DELIVERY_BACKOFF_MAX)


@shared_task(
    bind=True,
    name=outbox.DELIVER_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # counted here, so the last failure becomes a dead letter, not a loss
)
def deliver(self: Task, consumer: str, message: Any) -> str:
    try:
        applied = inbox.consume(consumer, message)
    except inbox.PoisonMessage as exc:
        inbox.dead_letter(consumer, message, reason=exc.reason, error=str(exc))
        return "dead-letter"
    except Exception as exc:
        transient = isinstance(exc, TRANSIENT)
        if transient:
            close_old_connections()  # a cut connection must not be reused by the retry
        attempts = self.request.retries + 1
        inbox.failure_record(
            consumer, message, attempt=attempts, error=f"{type(exc).__name__}: {exc}"
        )
        # The infrastructure coming back is worth waiting for much longer than a handler that
        # fails by itself; neither waits forever.
        limit = (
            settings.DELIVERY_MAX_TRANSIENT_RETRIES if transient else settings.DELIVERY_MAX_RETRIES
        )
        if attempts > limit:
            logger.exception("%s gave up on %s after %d attempts", consumer, message, attempts)
            inbox.dead_letter(
                consumer,
                message,
                reason=DeadLetter.Reason.FAILED,
                error=f"{type(exc).__name__}: {exc}",
                attempts=attempts,
            )
            return "dead-letter"
        logger.warning("%s failed on attempt %d (%s); retrying", consumer, attempts, exc)
        metrics.retried(consumer, inbox.event_type_of(message))
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    metrics.delivered(consumer, message, applied=applied)
    return "applied" if applied else "duplicate"


@housekeeping("kernel.relay_outbox")
def relay_outbox() -> dict[str, int]:
    return outbox.relay()


@housekeeping("kernel.purge_messages")
def purge_messages() -> dict[str, int]:
    return {"outbox": outbox.purge(), "inbox": inbox.purge()}


def replay(dead_letter: DeadLetter) -> None:
    """Send a dead letter's message to its consumer again."""
    deliver.apply_async((dead_letter.consumer, dead_letter.message), queue=dead_letter.consumer)
    dead_letter.replayed_at = timezone.now()
    dead_letter.save(update_fields=["replayed_at"])
