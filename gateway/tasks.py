from celery import shared_task

from gateway.services import idempotency_purge


@shared_task(name="gateway.purge_idempotency_keys", queue="gateway", acks_late=True)
def purge_idempotency_keys() -> int:
    return idempotency_purge()
