"""What the notifications domain does when it hears an event."""

from kernel.catalog import (
    OrderCancelled,
    OrderConfirmed,
    OrderRejected,
    UserCreated,
    UserDeactivated,
)
from kernel.events import Envelope
from kernel.inbox import handles
from notifications import services


@handles(UserCreated, consumer="notifications")
def on_user_created(event: UserCreated, envelope: Envelope) -> None:
    services.welcome_store(
        user_id=event.user_id,
        username=event.username,
        email=event.email,
        first_name=event.first_name,
    )


@handles(UserDeactivated, consumer="notifications")
def on_user_deactivated(event: UserDeactivated, envelope: Envelope) -> None:
    services.account_closed_letter(user_id=event.user_id, reason=event.reason)


@handles(OrderConfirmed, consumer="notifications")
def on_order_confirmed(event: OrderConfirmed, envelope: Envelope) -> None:
    services.order_confirmed_letter(
        user_id=event.user_id,
        order_id=event.order_id,
        price=event.price,
        description=event.description,
    )


@handles(OrderRejected, consumer="notifications")
def on_order_rejected(event: OrderRejected, envelope: Envelope) -> None:
    services.order_rejected_letter(
        user_id=event.user_id,
        order_id=event.order_id,
        price=event.price,
        description=event.description,
        reason=event.reason,
    )


@handles(OrderCancelled, consumer="notifications")
def on_order_cancelled(event: OrderCancelled, envelope: Envelope) -> None:
    services.order_cancelled_letter(
        user_id=event.user_id,
        order_id=event.order_id,
        price=event.price,
        description=event.description,
        refunded=event.refunded,
    )
