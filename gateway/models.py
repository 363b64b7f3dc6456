from django.db import models
from django.db.models import Q


class Operation(models.Model):
    """One command the gateway sent, and its answer once an answer event has settled it.

    The one store of a request's outcome: the request that waited for it, a repeat of its
    Idempotency-Key and ``GET /operation/<id>/`` all read it here. The first final answer is
    kept (never a 202); Redis only wakes the request that waits (``gateway.replies``).
    """

    correlation_id = models.UUIDField(primary_key=True)
    kind = models.CharField(max_length=20)
    # Whose it is; null for a registration, whose user does not exist yet.
    user_id = models.UUIDField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="operation_created_idx"),
            # The open ones, counted by the metrics (gateway/metrics.py): few at any time.
            models.Index(
                fields=["created_at"],
                name="operation_open_idx",
                condition=Q(settled_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.correlation_id}"


class OrderRequest(models.Model):
    """Every order the gateway accepted: who asked for it, and under which Idempotency-Key.

    The gateway's own record, so it can refuse a command about an order that is not the
    caller's without asking the orders domain, show an order it accepted before that domain has
    placed it, and find the operation whose answer a repeated key replays.
    """

    order_id = models.UUIDField(primary_key=True)
    user_id = models.UUIDField()
    correlation_id = models.UUIDField()
    # Kept for IDEMPOTENCY_KEY_TTL_HOURS, then cleared: a key used again later is a new request.
    # NULL, not "": only keys that are set must be unique per user.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    fingerprint = models.CharField(max_length=64, blank=True)
    # What was asked, to show the order as pending until the orders domain has placed it (null
    # only for requests recorded before they were kept).
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="idempotency_key_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["user_id"], name="order_request_user_idx"),
            models.Index(
                fields=["created_at"],
                name="order_request_created_idx",
                condition=Q(idempotency_key__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} of {self.user_id}"


class AccessRevocation(models.Model):
    """A user deactivated at ``since``: their tokens issued until then are refused
    (``gateway.access``)."""

    user_id = models.UUIDField(primary_key=True)
    since = models.DateTimeField()

    def __str__(self) -> str:
        return f"tokens of {self.user_id} until {self.since}"
