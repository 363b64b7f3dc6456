import uuid

from django.db import models
from django.db.models import Q


class OrderQuerySet(models.QuerySet):
    def locked(self) -> "OrderQuerySet":
        """Lock the rows until the transaction ends: every step of the saga goes through here."""
        return self.select_for_update()


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        CANCELLING = "cancelling"
        CANCELLED = "cancelled"

    class Reason(models.TextChoices):
        INSUFFICIENT_FUNDS = "insufficient_funds"
        NO_ACCOUNT = "no_account"
        TIMEOUT = "timeout"

    # Made by the gateway, so a request can be answered with the order's URL before it exists.
    id = models.UUIDField(primary_key=True, editable=False)
    user_id = models.UUIDField()
    price = models.DecimalField(max_digits=12, decimal_places=2)
    description = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    debit_transaction_id = models.UUIDField(default=uuid.uuid4, editable=False)
    # The saga's correlation id, that of the request that asked for the order: every event of the
    # saga carries it, also those a timer publishes. Null only for orders placed before it was kept.
    correlation_id = models.UUIDField(null=True, blank=True, editable=False)
    refunded = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # A pending order still pending at this time is rejected by the sweeper.
    deadline_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="order_price_positive"),
        ]
        indexes = [
            models.Index(fields=["user_id", "-created_at"], name="order_user_idx"),
            models.Index(
                fields=["deadline_at"],
                name="order_pending_deadline_idx",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


# The saga's state machine: every other move is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    Order.Status.PENDING: frozenset({Order.Status.CONFIRMED, Order.Status.REJECTED}),
    Order.Status.CONFIRMED: frozenset({Order.Status.CANCELLING}),
    Order.Status.CANCELLING: frozenset({Order.Status.CANCELLED}),
}
TERMINAL = frozenset({Order.Status.CONFIRMED, Order.Status.REJECTED, Order.Status.CANCELLED})


class OrderStep(models.Model):
    """One event of an order's saga: what happened, in which domain, when."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="steps")
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=100)
    domain = models.CharField(max_length=30)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ("occurred_at", "id")

    def __str__(self) -> str:
        return f"{self.event_type} by {self.domain}"
