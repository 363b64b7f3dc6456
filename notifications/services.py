import logging
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from notifications.models import Contact, Notification

logger = logging.getLogger(__name__)


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
        from notifications.tasks import send_notification  # the task module imports this one

        transaction.on_commit(
            lambda: send_notification.apply_async((str(notification.id),), queue="notifications")
        )
    return notification


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
