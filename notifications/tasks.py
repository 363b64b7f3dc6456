from celery import shared_task

from notifications.services import SEND_TASK, notification_send, notifications_resend_stale


@shared_task(
    name=SEND_TASK,
    queue="notifications",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=10,
)
def send_notification(notification_id: str) -> None:
    notification_send(notification_id=notification_id)


@shared_task(name="notifications.resend_stale", acks_late=True)
def resend_stale() -> int:
    return notifications_resend_stale()
