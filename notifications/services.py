import logging
from decimal import Decimal
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from kernel.money import money_str
from notifications.models import Contact, Notification

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.send"


def contact_record(*, user_id: UUID, username: str, email: str, first_name: str = "") -> Contact:
    contact, _ = Contact.objects.update_or_create(
        user_id=user_id,
        defaults={"username": username, "email": email, "first_name": first_name},
    )
    return contact


def notification_store(
    *, user_id: UUID, kind: str, reference: UUID, email: str, subject: str, body: str
) -> Notification | None:
    """Store an email once per (kind, reference) and send it after the transaction commits."""
    notification, created = Notification.objects.get_or_create(
        kind=kind,
        reference=reference,
        defaults={"user_id": user_id, "email": email, "subject": subject, "body": body},
    )
    if created:
        transaction.on_commit(lambda: notification_deliver(notification_id=notification.id))
    return notification


def notification_deliver(*, notification_id: UUID) -> None:
    """Send right after the commit that stored it; if that fails, a retrying task takes over.

    Sending here, not in a task of its own, saves a broker round trip per email.
    """
    try:
        notification_send(notification_id=notification_id)
    except Exception:
        current_app.send_task(
            SEND_TASK, args=(str(notification_id),), queue="notifications", countdown=2
        )


def welcome_store(*, user_id: UUID, username: str, email: str, first_name: str = "") -> None:
    contact = contact_record(user_id=user_id, username=username, email=email, first_name=first_name)
    name = contact.first_name or contact.username
    notification_store(
        user_id=user_id,
        kind=Notification.Kind.WELCOME,
        reference=user_id,
        email=contact.email,
        subject="Welcome to the order platform",
        body=(
            f"Hello {name},\n\n"
            f"your account {contact.username} is ready. Top up your balance and place orders;\n"
            "we will write to you about each of them.\n"
        ),
    )


class ContactUnknown(Exception):
    """UserCreated has not reached notifications yet: worth a retry, not a dead end."""


def _letter(*, user_id: UUID, kind: str, order_id: UUID, subject: str, body: str) -> None:
    contact = Contact.objects.filter(user_id=user_id).first()
    if contact is None:
        raise ContactUnknown(f"no contact for user {user_id}")
    name = contact.first_name or contact.username
    notification_store(
        user_id=user_id,
        kind=kind,
        reference=order_id,
        email=contact.email,
        subject=subject,
        body=f"Hello {name},\n\n{body}\n\nOrder {order_id}\n",
    )


def _about(description: str) -> str:
    return f" ({description})" if description else ""


def order_confirmed_letter(
    *, user_id: UUID, order_id: UUID, price: Decimal, description: str
) -> None:
    _letter(
        user_id=user_id,
        kind=Notification.Kind.ORDER_CONFIRMED,
        order_id=order_id,
        subject=f"Your order {str(order_id)[:8]} is confirmed",
        body=f"your order{_about(description)} for {money_str(price)} is confirmed and paid.",
    )


REJECTION_TEXT = {
    "insufficient_funds": "there is not enough money on your account to pay {price}. "
    "Top up your balance and order again.",
    "no_account": "your account is not open yet, so {price} could not be taken.",
    "timeout": "the payment of {price} did not complete in time, so the order was called off. "
    "Anything taken for it is refunded.",
}


def order_rejected_letter(
    *, user_id: UUID, order_id: UUID, price: Decimal, description: str, reason: str
) -> None:
    subject = (
        f"Not enough money for your order {str(order_id)[:8]}"
        if reason == "insufficient_funds"
        else f"Your order {str(order_id)[:8]} could not be completed"
    )
    _letter(
        user_id=user_id,
        kind=Notification.Kind.ORDER_REJECTED,
        order_id=order_id,
        subject=subject,
        body=f"your order{_about(description)} is rejected: "
        + REJECTION_TEXT[reason].format(price=money_str(price)),
    )


def order_cancelled_letter(
    *, user_id: UUID, order_id: UUID, price: Decimal, description: str, refunded: Decimal
) -> None:
    _letter(
        user_id=user_id,
        kind=Notification.Kind.ORDER_CANCELLED,
        order_id=order_id,
        subject=f"Your order {str(order_id)[:8]} is cancelled",
        body=f"your order{_about(description)} for {money_str(price)} is cancelled; "
        f"{money_str(refunded)} is back on your balance.",
    )


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
            send_mail(
                notification.subject,
                notification.body,
                settings.DEFAULT_FROM_EMAIL,
                [notification.email],
                fail_silently=False,
            )
        except Exception as exc:
            notification.status = Notification.Status.FAILED
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            notification.save(update_fields=["status", "attempts", "last_error"])
            logger.warning("sending %s failed: %s", notification.id, exc)
            raise
        notification.status = Notification.Status.SENT
        notification.sent_at = timezone.now()
        notification.save(update_fields=["status", "attempts", "sent_at"])
    return notification
