from gateway.access import access_revocations_expire
from gateway.services import idempotency_keys_expire, operations_expire
from kernel.messaging.tasks import housekeeping


@housekeeping("gateway.expire_idempotency_keys")
def expire_idempotency_keys() -> int:
    return idempotency_keys_expire()


@housekeeping("gateway.expire_access_revocations")
def expire_access_revocations() -> int:
    return access_revocations_expire()


@housekeeping("gateway.expire_operations")
def expire_operations() -> int:
    return operations_expire()
