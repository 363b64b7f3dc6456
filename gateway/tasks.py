from celery import shared_task

from gateway.access import access_revocations_expire
from gateway.services import idempotency_keys_expire, operations_expire


@shared_task(name="gateway.expire_idempotency_keys", queue="gateway", acks_late=True)
def expire_idempotency_keys() -> int:
    return idempotency_keys_expire()


@shared_task(name="gateway.expire_access_revocations", queue="gateway", acks_late=True)
def expire_access_revocations() -> int:
    return access_revocations_expire()


@shared_task(name="gateway.expire_operations", queue="gateway", acks_late=True)
def expire_operations() -> int:
    return operations_expire()
