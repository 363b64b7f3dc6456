from django.db import models


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key for POST /order/: one order per key, its first answer replayed."""

    user_id = models.UUIDField()
    key = models.CharField(max_length=255)
    # What was asked with the key; the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    order_id = models.UUIDField()
    correlation_id = models.UUIDField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_id", "key"], name="idempotency_key_per_user"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} -> order {self.order_id}"
