from django.contrib import admin

from kernel.admin import ReadOnlyAdmin
from notifications.models import Contact, Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "kind",
        "email",
        "subject",
        "status",
        "attempts",
        "last_attempt_at",
        "sent_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("email", "=user_id", "=reference")


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    """Learnt from UserCreated: the users domain owns the address."""

    list_display = ("username", "email", "user_id", "created_at")
    search_fields = ("username", "email", "=user_id")
