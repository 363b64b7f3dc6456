from kernel.messaging.tasks import housekeeping
from orders.services import orders_expire


@housekeeping("orders.expire_pending")
def expire_pending() -> int:
    return orders_expire()
