from django.contrib import admin

from kernel.admin import ReadOnlyAdmin
from orders.models import Order, OrderStep


class OrderStepInline(admin.TabularInline):
    model = OrderStep
    fields = ("occurred_at", "event_type", "domain", "event_id")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "user_id", "price", "status", "reason", "created_at", "updated_at")
    list_filter = ("status", "reason")
    search_fields = ("=id", "=user_id", "description")
    date_hierarchy = "created_at"
    inlines = (OrderStepInline,)
