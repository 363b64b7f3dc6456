"""What the notifications domain does when it hears an event: each one writes a letter."""

from contracts.catalog import (
    OrderCancelled,
    OrderConfirmed,
    OrderRejected,
    UserCreated,
    UserDeactivated,
)
from kernel.messaging.events import Envelope
from kernel.messaging.inbox import handles
from notifications import services
from notifications.models import Notification

Kind = Notification.Kind


@handles(UserCreated, consumer="notifications")
def on_user_created(event: UserCreated, envelope: Envelope) -> None:
    services.contact_record(
        user_id=event.user_id,
        username=event.username,
        email=event.email,
        first_name=event.first_name,
    )
    services.notification_write(kind=Kind.WELCOME, user_id=event.user_id, reference=event.user_id)


@handles(UserDeactivated, consumer="notifications")
def on_user_deactivated(event: UserDeactivated, envelope: Envelope) -> None:
    services.notification_write(
        kind=Kind.ACCOUNT_CLOSED,
        user_id=event.user_id,
        reference=event.user_id,
        reason=event.reason,
    )


@handles(OrderConfirmed, consumer="notifications")
def on_order_confirmed(event: OrderConfirmed, envelope: Envelope) -> None:
    services.notification_write(
        kind=Kind.ORDER_CONFIRMED,
        user_id=event.user_id,
        reference=event.order_id,
        price=event.price,
        description=event.description,
    )


@handles(OrderRejected, consumer="notifications")
def on_order_rejected(event: OrderRejected, envelope: Envelope) -> None:
    services.notification_write(
        kind=Kind.ORDER_REJECTED,
        user_id=event.user_id,
        reference=event.order_id,
        reason=event.reason,
        price=event.price,
        description=event.description,
    )


@handles(OrderCancelled, consumer="notifications")
def on_order_cancelled(event: OrderCancelled, envelope: Envelope) -> None:
    services.notification_write(
        kind=Kind.ORDER_CANCELLED,
        user_id=event.user_id,
        reference=event.order_id,
        price=event.price,
        refunded=event.refunded,
        description=event.description,
    )
