import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from notifications import letters
from notifications.models import Contact, Notification

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.send"


def contact_record(*, user_id: UUID, username: str, email: str, first_name: str = "") -> Contact:
    contact, _ = Contact.objects.update_or_create(
        user_id=user_id,
        defaults={"username": username, "email": email, "first_name": first_name},
    )
    return contact


_NOTIFICATION = Notification._meta.db_table
_STORE_SQL = f"""
    INSERT INTO {_NOTIFICATION}
        (id, user_id, kind, reference, email, subject, body, status, attempts, last_error,
         created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, '', now())
    ON CONFLICT (kind, reference) DO NOTHING
    RETURNING id
"""


def notification_store(
    *, user_id: UUID, kind: str, reference: UUID, email: str, subject: str, body: str
) -> UUID | None:
    """Store an email once per (kind, reference) and send it after the transaction commits.

    One statement: a letter stored already (the same kind about the same thing) is left alone.
    Returns the new letter's id, or None if there was one.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            [uuid4(), user_id, kind, reference, email, subject, body, Notification.Status.PENDING],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    notification = Notification(
        id=row[0], user_id=user_id, kind=kind, reference=reference, email=email,
        subject=subject, body=body,
    )  # fmt: skip
    transaction.on_commit(lambda: notification_deliver(notification))
    return notification.id


def notification_deliver(notification: Notification) -> None:
    """Send a letter right after the commit that stored it; if that fails, a retrying task
    takes over, and if that task cannot be scheduled, beat's sweep of pending letters does.

    Sending here, not in a task of its own, saves a broker round trip per email; and no lock is
    needed, since nothing else knows of the row yet (its event is applied once, by this commit):
    the outcome is one UPDATE. Nothing here raises: it runs after the commit, where an error
    would only fail the delivery that has already been applied.
    """
    try:
        _email(notification)
    except Exception as exc:
        _retry_later(notification, exc)
        return
    try:
        Notification.objects.filter(pk=notification.pk, status=Notification.Status.PENDING).update(
            status=Notification.Status.SENT, attempts=1, sent_at=timezone.now()
        )
    except Exception:
        logger.exception("letter %s sent but not marked sent; the sweep may send it again",
                         notification.pk)  # fmt: skip


def _retry_later(notification: Notification, exc: Exception) -> None:
    """Hand a letter whose send failed to the retrying task; marked failed once it has one.

    If the broker cannot take the task, the letter stays pending, which is what beat's sweep
    looks for (a failed letter belongs to its task).
    """
    logger.warning("sending %s failed: %s", notification.pk, exc)
    try:
        current_app.send_task(
            SEND_TASK, args=(str(notification.pk),), queue="notifications", countdown=2
        )
    except Exception:
        logger.exception("no retry task for letter %s; it stays pending for the sweep",
                         notification.pk)  # fmt: skip
        return
    try:
        Notification.objects.filter(pk=notification.pk, status=Notification.Status.PENDING).update(
            status=Notification.Status.FAILED, attempts=1, last_error=_error(exc)
        )
    except Exception:
        logger.exception("could not record the failure of letter %s", notification.pk)


def _email(notification: Notification) -> None:
    send_mail(
        notification.subject,
        notification.body,
        settings.DEFAULT_FROM_EMAIL,
        [notification.email],
        fail_silently=False,
    )


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


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
    return notification_store(
        user_id=user_id, kind=kind, reference=reference, email=contact.email, subject=subject,
        body=body,
    )  # fmt: skip


def notification_send(*, notification_id: UUID | str) -> Notification | None:
    """Send a stored email through Django's email framework and record the outcome.

    Raises on a failed send so the caller can retry; the row keeps the error meanwhile.
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(
                pk=notification_id,
                status__in=[Notification.Status.PENDING, Notification.Status.FAILED],
            )
            .first()
        )
        if notification is None:
            return None  # sent already, or gone
        notification.attempts += 1
        try:
            _email(notification)
        except Exception as exc:
            notification.status = Notification.Status.FAILED
            notification.last_error = _error(exc)
            notification.save(update_fields=["status", "attempts", "last_error"])
            logger.warning("sending %s failed: %s", notification.id, exc)
            raise
        notification.status = Notification.Status.SENT
        notification.sent_at = timezone.now()
        notification.save(update_fields=["status", "attempts", "sent_at"])
    return notification


def notifications_resend_stale(*, older_than: float | None = None, batch: int = 100) -> int:
    """Send the letters still pending long after they were stored; returns how many were sent.

    A letter is sent right after the commit that stored it, and a failed send schedules a
    retrying task; but a worker killed between that commit and the send, or a broker that could
    not take the retry task, leaves it pending with nothing to send it. Beat runs
    this every minute. ``notification_send`` locks the row and skips a letter sent meanwhile,
    so a letter is never sent twice by this and an inline send or retry racing it.
    """
    after = settings.NOTIFICATION_STALE_AFTER if older_than is None else older_than
    stale = list(
        Notification.objects.filter(
            status=Notification.Status.PENDING,
            created_at__lte=timezone.now() - timedelta(seconds=after),
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:batch]
    )
    sent = 0
    for notification_id in stale:
        try:
            sent += notification_send(notification_id=notification_id) is not None
        except Exception:
            logger.warning("stale letter %s still not sent; the next round tries again",
                           notification_id)  # fmt: skip
    if stale:
        logger.warning("sent %d of %d letters left pending", sent, len(stale))
    return sent
