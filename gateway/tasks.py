from celery import shared_task

from gateway.services import idempotency_keys_expire


@shared_task(name="gateway.expire_idempotency_keys", queue="gateway", acks_late=True)
def expire_idempotency_keys() -> int:
    return idempotency_keys_expire()
