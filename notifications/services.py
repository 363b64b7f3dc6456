"""Notifications' writes: the contacts it learns, and letters from written to sent.

A letter has one path. :func:`notification_write` renders it from the template table
(``notifications.letters``) and stores it in the transaction of the event that causes it;
after that commit :func:`notification_deliver` sends it; a failed send is handed to a task
that retries with backoff; beat's sweep (:func:`notifications_resend_stale`) delivers what is
left pending. Every send goes through :func:`notification_send`, which claims the row
(``FOR UPDATE SKIP LOCKED``, pending or failed only) and records the outcome on it, so a letter
is never sent twice, whichever of the three reaches it. The send right after the commit takes
the lock too, though nothing else knows of the row yet: it costs one statement per letter, and
spares the case where that send takes longer than ``NOTIFICATION_STALE_AFTER`` and the sweep
sends the letter beside it.

Why this is not the kernel's outbox, though it has the same shape (a row written with the
change, sent after commit, a beat sweep for what was left):

- The outbox may send an event twice, and does on purpose: a row is written as sent before it
  is, and the sweep sends again whatever a consumer has not acknowledged, because every
  consumer's inbox makes a second copy harmless. An email has no inbox at the other end: a
  second copy reaches a person. So a letter is sent under a row lock, and only while its status
  says it has not been; the outbox holds no lock while sending after commit.
- The outbox's send fails when the broker is down, so its retry cannot be a task (the task
  would go to the same broker): the beat relay, reading the database, is its retry. A letter's
  send fails when the mail server does, and the broker is then the way to retry soon with backoff;
  the sweep is only for a letter whose worker died, or whose retry the broker could not take.
- The outbox's sweep compares what was sent with what consumers applied; a mail server
  acknowledges nothing later, so a letter's sweep only looks for letters nothing is sending: still
  pending, or failed and left by their retrying task.

What is the same mechanism is Django's ``transaction.on_commit`` and a beat entry, which both
use directly; a kernel helper around them would be one line that hides the differences above.
"""

import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from notifications import letters
from notifications.models import Contact, Notification

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.send"
# The first retry of a failed send; the task's own backoff spaces the next ones, up to
# RETRY_BACKOFF_MAX seconds apart, RETRIES times; after that the letter stays failed.
RETRY_AFTER = 2
RETRY_BACKOFF_MAX = 300
RETRIES = 10


def contact_record(*, user_id: UUID, username: str, email: str, first_name: str = "") -> Contact:
    contact, _ = Contact.objects.update_or_create(
        user_id=user_id,
        defaults={"username": username, "email": email, "first_name": first_name},
    )
    return contact


class ContactUnknown(Exception):
    """UserCreated has not reached notifications yet: worth a retry, not a dead end."""


def notification_write(
    *,
    kind: str,
    user_id: UUID,
    reference: UUID,
    reason: str = letters.EVERY,
    price: Decimal | None = None,
    refunded: Decimal | None = None,
    description: str = "",
) -> UUID | None:
    """Write the user the letter of ``kind`` about ``reference`` (the user for an account
    letter, the order for an order letter), to the address in their contact; it is sent once
    the current transaction commits.

    Raises :class:`ContactUnknown` if the contact is not known yet and the letter waits for it
    (the handler is retried); a letter that does not wait is skipped. Returns the new letter's
    id, or None if none was stored (skipped, or written already).
    """
    template = letters.template(kind, reason)
    contact = Contact.objects.filter(user_id=user_id).first()
    if contact is None:
        if template.wait_for_contact:
            raise ContactUnknown(f"no contact for user {user_id}")
        return None
    subject, body = letters.render(
        template,
        letters.Facts(
            name=contact.first_name or contact.username,
            username=contact.username,
            reference=reference,
            price=price,
            refunded=refunded,
            description=description,
        ),
    )
    return _store(
        user_id=user_id, kind=kind, reference=reference, email=contact.email, subject=subject,
        body=body,
    )  # fmt: skip


_NOTIFICATION = Notification._meta.db_table
_STORE_SQL = f"""
    INSERT INTO {_NOTIFICATION}
        (id, user_id, kind, reference, email, subject, body, status, attempts, last_error,
         created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, '', now())
    ON CONFLICT (kind, reference) DO NOTHING
    RETURNING id
"""


def _store(
    *, user_id: UUID, kind: str, reference: UUID, email: str, subject: str, body: str
) -> UUID | None:
    """Store a letter once per (kind, reference) and deliver it after the transaction commits.

    One statement: a letter stored already (the same kind about the same thing) is left alone.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            [uuid4(), user_id, kind, reference, email, subject, body, Notification.Status.PENDING],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    notification_id = row[0]
    transaction.on_commit(lambda: notification_deliver(notification_id))
    return notification_id


def notification_deliver(notification_id: UUID | str) -> bool:
    """Send a pending letter; if that fails, hand it to the retrying task. True if sent here.

    Called right after the commit that stored the letter (sending there, not in a task of its
    own, saves a broker round trip per letter) and by the sweep. Nothing here raises: after the
    commit an error would only fail the delivery of the event that has already been applied.
    """
    try:
        return notification_send(notification_id=notification_id) is not None
    except Exception as exc:
        _retry_later(notification_id, exc)
        return False


def _retry_later(notification_id: UUID | str, exc: Exception) -> None:
    """Hand a letter whose send failed to the retrying task; marked failed once it has one.

    If the broker cannot take the task, the letter stays pending, which is what beat's sweep
    looks for (a failed letter belongs to its task).
    """
    logger.warning("sending %s failed: %s", notification_id, exc)
    try:
        current_app.send_task(
            SEND_TASK, args=(str(notification_id),), queue="notifications", countdown=RETRY_AFTER
        )
    except Exception:
        logger.exception("no retry task for letter %s; it stays pending for the sweep",
                         notification_id)  # fmt: skip
        return
    try:
        Notification.objects.filter(pk=notification_id, status=Notification.Status.PENDING).update(
            status=Notification.Status.FAILED
        )
    except Exception:
        logger.exception("could not record that letter %s is being retried", notification_id)


def notification_send(*, notification_id: UUID | str) -> Notification | None:
    """Send a stored letter through Django's email framework and record the outcome on it.

    The row is claimed with ``FOR UPDATE SKIP LOCKED`` and only while it is pending or failed:
    a letter sent already, or being sent by someone else right now, is skipped (None), so it is
    never sent twice. Whoever holds the row answers for it: a failed send counts the attempt,
    keeps the error, leaves the status as it was (pending is the sweep's, failed the retrying
    task's until it has been silent too long) and raises, for the caller to retry or hand on.
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(
                pk=notification_id,
                status__in=[Notification.Status.PENDING, Notification.Status.FAILED],
            )
            .first()
        )
        if notification is None:
            return None  # sent already, being sent, or gone
        notification.attempts += 1
        notification.last_attempt_at = timezone.now()
        try:
            _email(notification)
        except Exception as exc:
            failure = exc
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            notification.save(update_fields=["attempts", "last_attempt_at", "last_error"])
        else:
            failure = None
            notification.status = Notification.Status.SENT
            notification.sent_at = timezone.now()
            notification.save(update_fields=["status", "attempts", "last_attempt_at", "sent_at"])
    # Raised once the failure is committed: raised inside the block, it would roll it back.
    if failure is not None:
        raise failure
    return notification


def _email(notification: Notification) -> None:
    send_mail(
        notification.subject,
        notification.body,
        settings.DEFAULT_FROM_EMAIL,
        [notification.email],
        fail_silently=False,
    )


def stale_letters(*, older_than: float) -> QuerySet[Notification]:
    """Letters nothing is sending, oldest first: pending ``older_than`` seconds after they were
    stored, or failed with retries to spare and untried for longer than the retrying task ever
    waits (plus the same grace)."""
    now = timezone.now()
    left_pending = Q(
        status=Notification.Status.PENDING, created_at__lte=now - timedelta(seconds=older_than)
    )
    task_lost = Q(
        status=Notification.Status.FAILED,
        attempts__lte=RETRIES,  # the first send and fewer than RETRIES retries
        last_attempt_at__lte=now - timedelta(seconds=RETRY_BACKOFF_MAX + older_than),
    )
    # The exclusion is the condition of the partial index the sweep reads.
    return (
        Notification.objects.exclude(status=Notification.Status.SENT)
        .filter(left_pending | task_lost)
        .order_by("created_at")
    )


def notifications_resend_stale(*, older_than: float | None = None, batch: int = 100) -> int:
    """Deliver the letters nothing else will send; returns how many were sent.

    A letter is sent right after the commit that stored it, and a failed send is handed to a
    retrying task; but a worker killed between that commit and the send, or a broker that could
    not take the retry task, leaves it pending with nothing to send it; and a retry task can be
    lost after it was taken (a broker restarted with nothing kept on disk), which leaves the
    letter failed with retries to spare and untouched for longer than the task ever waits.
    Beat runs this every minute. A letter that fails here is handed to the retrying task like
    any other (or, with the broker still down, stays as it was for the next round).
    """
    after = settings.NOTIFICATION_STALE_AFTER if older_than is None else older_than
    stale = list(stale_letters(older_than=after).values_list("id", flat=True)[:batch])
    sent = sum(notification_deliver(notification_id) for notification_id in stale)
    if stale:
        logger.warning("sent %d of %d letters left pending", sent, len(stale))
    return sent
