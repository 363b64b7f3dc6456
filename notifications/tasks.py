from celery import shared_task

from kernel.messaging.tasks import housekeeping
from notifications.services import (
    RETRIES,
    RETRY_BACKOFF_MAX,
    SEND_TASK,
    notification_send,
    notifications_resend_stale,
)


# Retries a letter whose send failed: up to RETRIES times, with exponential backoff (from 2 s,
# at most RETRY_BACKOFF_MAX apart, jittered). Each failure is counted on the letter with its
# error; one still failing after the last retry stays failed, and the admin shows why. Sent to
# the notifications queue by its one sender (services), and routed there by the settings.
@shared_task(
    name=SEND_TASK,
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=RETRIES,
)
def send_notification(notification_id: str) -> None:
    notification_send(notification_id=notification_id)


@housekeeping("notifications.resend_stale")
def resend_stale() -> int:
    return notifications_resend_stale()
