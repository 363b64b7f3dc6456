"""The gateway's own records: the operations it sent and their answers, and the orders it
accepted with their idempotency keys."""

import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from gateway.models import Operation, OrderRequest


def operation_start(*, correlation_id: UUID, kind: str, user_id: UUID | str | None) -> None:
    """Record a command being sent, in the transaction that publishes its event."""
    Operation.objects.create(correlation_id=correlation_id, kind=kind, user_id=user_id)


def operation_settle(*, correlation_id: UUID, kind: str, status: int, body: dict) -> bool:
    """Keep the answer of an operation; the first one kept stays (a redelivered answer event
    changes nothing). A 202 is not an answer and is never kept."""
    return bool(
        Operation.objects.filter(pk=correlation_id, kind=kind, settled_at__isnull=True).update(
            status_code=status, body=body, settled_at=timezone.now()
        )
    )


def operation_get(*, correlation_id: UUID | str) -> Operation | None:
    return Operation.objects.filter(pk=correlation_id).first()


def operations_expire() -> int:
    """Forget operations older than GATEWAY_OPERATION_TTL, and never one an Idempotency-Key still
    kept may replay."""
    keep = max(
        timedelta(seconds=settings.GATEWAY_OPERATION_TTL),
        timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
    )
    cutoff = timezone.now() - keep
    deleted, _ = Operation.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def fingerprint(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def order_request_record(
    *,
    order_id: UUID,
    user_id: UUID,
    correlation_id: UUID,
    price: Decimal,
    description: str,
    key: str | None,
    fingerprint: str,
) -> tuple[OrderRequest, bool]:
    """Record a new order request, or return the one that took ``key`` first.

    Run in the transaction that publishes the order: a racing request with the same key waits
    on the unique index until the first commits, then finds the first's row.
    """
    if key is None:
        return OrderRequest.objects.create(
            order_id=order_id,
            user_id=user_id,
            correlation_id=correlation_id,
            price=price,
            description=description,
        ), True
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {OrderRequest._meta.db_table}
                (order_id, user_id, correlation_id, price, description, idempotency_key,
                 fingerprint, created_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, now())
                ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL
                DO NOTHING RETURNING order_id""",
            [order_id, user_id, correlation_id, price, description, key, fingerprint],
        )
        if cursor.fetchone() is not None:
            return OrderRequest(
                order_id=order_id,
                user_id=user_id,
                correlation_id=correlation_id,
                price=price,
                description=description,
                idempotency_key=key,
                fingerprint=fingerprint,
            ), True
    return OrderRequest.objects.get(user_id=user_id, idempotency_key=key), False


def order_request_exists(*, order_id: UUID, user_id: UUID) -> bool:
    return OrderRequest.objects.filter(order_id=order_id, user_id=user_id).exists()


def order_request_get(*, order_id: UUID, user_id: UUID) -> OrderRequest | None:
    return OrderRequest.objects.filter(order_id=order_id, user_id=user_id).first()


def idempotency_keys_expire() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    return OrderRequest.objects.filter(idempotency_key__isnull=False, created_at__lt=cutoff).update(
        idempotency_key=None, fingerprint=""
    )
