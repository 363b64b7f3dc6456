"""The gateway's record of the orders it accepted, and their idempotency keys."""

import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from gateway.models import OrderRequest


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


def order_request_settle(*, order_id: UUID, status: int, body: dict) -> bool:
    """Keep the final answer of a keyed request, to replay it: the first one kept stays.

    Called by the request that got the answer in time and by the gateway's worker when the
    answer event arrives, whichever comes first; a 202 is not an answer and is never kept.
    """
    return bool(
        OrderRequest.objects.filter(
            pk=order_id, idempotency_key__isnull=False, response_status__isnull=True
        ).update(response_status=status, response_body=body)
    )


def order_request_answer(*, order_id: UUID) -> tuple[int, dict] | None:
    """The final answer kept for a keyed request, if there is one yet."""
    return (
        OrderRequest.objects.filter(pk=order_id, response_status__isnull=False)
        .values_list("response_status", "response_body")
        .first()
    )


def order_request_exists(*, order_id: UUID, user_id: UUID) -> bool:
    return OrderRequest.objects.filter(order_id=order_id, user_id=user_id).exists()


def order_request_get(*, order_id: UUID, user_id: UUID) -> OrderRequest | None:
    return OrderRequest.objects.filter(order_id=order_id, user_id=user_id).first()


def idempotency_keys_expire() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    return OrderRequest.objects.filter(idempotency_key__isnull=False, created_at__lt=cutoff).update(
        idempotency_key=None, fingerprint="", response_status=None, response_body=None
    )
