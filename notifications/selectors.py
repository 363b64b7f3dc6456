from uuid import UUID

from django.db.models import QuerySet

from notifications.models import Notification


def notification_list(*, user_id: UUID | str) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=user_id).order_by("-created_at", "id")
