from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it reports.

    Dispatched to the broker after commit; the relay sends again what is left undispatched.
    """

    id = models.UUIDField(primary_key=True)
    type = models.CharField(max_length=100)
    correlation_id = models.UUIDField()
    envelope = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveIntegerField(default=0)
    # The sweep's bookkeeping: when the event was last handed to the broker, how often it was
    # sent again to a consumer that had not applied it, and when every consumer had.
    last_sent_at = models.DateTimeField(null=True, blank=True)
    redeliveries = models.PositiveIntegerField(default=0)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_undispatched_idx",
                condition=Q(dispatched_at__isnull=True),
            ),
            models.Index(
                fields=["last_sent_at"],
                name="outbox_unsettled_idx",
                condition=Q(dispatched_at__isnull=False, settled_at__isnull=True),
            ),
            models.Index(fields=["correlation_id"], name="outbox_correlation_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class InboxEvent(models.Model):
    """One row per (consumer, event): the proof that a consumer has applied an event."""

    consumer = models.CharField(max_length=50)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)
    # How many times the broker brought this event to this consumer; above 1 means redelivered.
    deliveries = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["consumer", "event_id"], name="inbox_once_per_consumer"
            ),
        ]
        indexes = [models.Index(fields=["received_at"], name="inbox_received_idx")]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.event_type} {self.event_id}"


class DeliveryFailure(models.Model):
    """One failed attempt of a consumer to apply an event (it is retried, or dead-lettered)."""

    consumer = models.CharField(max_length=50)
    event_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    attempt = models.PositiveIntegerField()
    error = models.TextField()
    failed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["event_id", "consumer"], name="failure_event_idx"),
            models.Index(fields=["failed_at"], name="failure_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.event_type} attempt {self.attempt}"


class DeadLetter(models.Model):
    """A message a consumer could not apply: malformed, unknown, or failing past its retries."""

    class Reason(models.TextChoices):
        MALFORMED = "malformed"
        UNKNOWN_TYPE = "unknown_type"
        UNSUPPORTED_VERSION = "unsupported_version"
        FAILED = "failed"
        UNDELIVERED = "undelivered"

    consumer = models.CharField(max_length=50)
    event_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    message = models.JSONField()
    reason = models.CharField(max_length=30, choices=Reason.choices)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    # Set by the relay once the consumer has applied the event after all (a replay, or a copy
    # the broker still held): an open dead letter is one that needs an operator.
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["-created_at"], name="deadletter_created_idx"),
            models.Index(
                fields=["consumer", "event_id"],
                name="deadletter_open_idx",
                condition=Q(closed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.event_type or '?'} ({self.reason})"
