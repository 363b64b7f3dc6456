"""Idempotency keys of the gateway's order requests."""

import hashlib
import json
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from gateway.models import IdempotencyKey


def fingerprint(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def idempotency_claim(
    *, user_id: UUID, key: str, fingerprint: str, order_id: UUID, correlation_id: UUID
) -> tuple[IdempotencyKey, bool]:
    """Take ``key`` for this request, or return the request that took it first.

    Run in the transaction that publishes the order: a racing request with the same key waits
    on the unique index until the first commits, then finds the first's row.
    """
    table = IdempotencyKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table}
                (user_id, key, fingerprint, order_id, correlation_id, created_at)
                VALUES (%s, %s, %s, %s, %s, now())
                ON CONFLICT (user_id, key) DO NOTHING RETURNING id""",
            [user_id, key, fingerprint, order_id, correlation_id],
        )
        created = cursor.fetchone() is not None
    return IdempotencyKey.objects.get(user_id=user_id, key=key), created


def idempotency_settle(*, claim: IdempotencyKey, status: int, body: dict) -> None:
    IdempotencyKey.objects.filter(pk=claim.pk).update(response_status=status, response_body=body)


def idempotency_purge() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
