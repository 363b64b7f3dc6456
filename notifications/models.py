import uuid

from django.db import models


class Contact(models.Model):
    """Where to write to a user: learnt from UserCreated, so no call to the users domain."""

    user_id = models.UUIDField(primary_key=True)
    username = models.CharField(max_length=150)
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.username} <{self.email}>"


class Notification(models.Model):
    """An email: stored first, then sent; the status says how far it got."""

    class Kind(models.TextChoices):
        WELCOME = "welcome"
        ORDER_CONFIRMED = "order_confirmed"
        ORDER_REJECTED = "order_rejected"
        ORDER_CANCELLED = "order_cancelled"
        ACCOUNT_CLOSED = "account_closed"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.UUIDField()
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # What the email is about (the user for a welcome, the order for an order letter).
    reference = models.UUIDField()
    email = models.EmailField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the last send was tried: a failed letter untouched for longer than its retrying
    # task's longest wait has lost that task, and beat's sweep takes it back.
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "reference"], name="one_email_per_kind_and_reference"
            ),
        ]
        indexes = [
            models.Index(fields=["user_id", "-created_at"], name="notification_user_idx"),
            # The sweep's every-minute look at letters not sent yet, without reading the sent.
            models.Index(
                fields=["created_at"],
                condition=~models.Q(status="sent"),
                name="notification_unsent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.email}"
