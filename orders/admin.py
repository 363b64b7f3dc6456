from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest

from kernel.admin import ReadOnlyAdmin, confirmation
from orders.models import Order, OrderStep
from orders.selectors import order_saga
from orders.services import NotCancellable, order_cancel_by_staff


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
    actions = ("cancel_selected",)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        # The model's change permission stands for "may act on orders": rows are never changed.
        return request.user.has_perm("orders.change_order")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if order is not None:
            extra_context |= {
                "saga": order_saga(order=order),
                "cancellable": order.status == Order.Status.CONFIRMED
                and self.has_cancel_permission(request),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(
        description="Cancel the selected orders (refund through billing)",
        permissions=["cancel"],
    )
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]):
        """Through the saga's compensation, as a customer's cancel: the order moves to
        cancelling and asks billing for its refund; it is cancelled once billing has booked it.
        Asked first on a page that lists what will and will not be cancelled."""
        orders = list(queryset.order_by("created_at"))
        cancellable = [o for o in orders if o.status == Order.Status.CONFIRMED]
        refused = [o for o in orders if o.status != Order.Status.CONFIRMED]
        if request.POST.get("confirmed") != "yes":
            count = len(cancellable)
            return confirmation(
                self,
                request,
                "admin/orders/order/cancel_confirmation.html",
                title="Cancel orders?",
                breadcrumb="Cancel orders",
                action="cancel_selected",
                objects=cancellable,
                submit=f"Yes, cancel {count} order{'s' if count != 1 else ''}",
                refused=refused,
            )
        requested = []
        for order in cancellable:
            try:
                order_cancel_by_staff(order_id=order.id)
            except NotCancellable as exc:  # moved since the page was shown
                refused.append(order)
                order.status = exc.status
            else:
                requested.append(order)
        if requested:
            self.message_user(
                request,
                f"Cancel requested for {len(requested)} order(s): each is cancelling, and is "
                "cancelled once billing has booked its refund.",
                messages.SUCCESS,
            )
        for order in refused:
            self.message_user(
                request,
                f"Order {order.id} not cancelled: only a confirmed order can be cancelled; "
                f"this one is {order.status}.",
                messages.ERROR,
            )
        return None
