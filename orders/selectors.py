from uuid import UUID

from django.db.models import QuerySet

from orders.models import Order


def order_list(*, user_id: UUID | str) -> QuerySet[Order]:
    return Order.objects.filter(user_id=user_id).order_by("-created_at", "id")


def order_get(*, user_id: UUID | str, order_id: UUID | str) -> Order | None:
    return Order.objects.filter(pk=order_id, user_id=user_id).prefetch_related("steps").first()
