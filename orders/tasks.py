from celery import shared_task

from orders.services import orders_expire


@shared_task(name="orders.expire_pending", queue="orders", acks_late=True)
def expire_pending() -> int:
    return orders_expire()
