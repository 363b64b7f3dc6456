"""What the orders domain does when it hears an event: its part of the order saga."""

from contracts.catalog import (
    OrderCancelRequested,
    OrderRequested,
    RefundCompleted,
    TransactionCompleted,
    TransactionFailed,
)
from kernel.messaging.events import Envelope
from kernel.messaging.inbox import handles
from orders import services


@handles(OrderRequested, consumer="orders")
def on_order_requested(event: OrderRequested, envelope: Envelope) -> None:
    services.order_place(
        order_id=event.order_id,
        user_id=event.user_id,
        price=event.price,
        description=event.description,
        requested=envelope,
    )


@handles(TransactionCompleted, consumer="orders")
def on_transaction_completed(event: TransactionCompleted, envelope: Envelope) -> None:
    services.order_debit_completed(order_id=event.order_id, envelope=envelope)


@handles(TransactionFailed, consumer="orders")
def on_transaction_failed(event: TransactionFailed, envelope: Envelope) -> None:
    services.order_debit_failed(order_id=event.order_id, reason=event.reason, envelope=envelope)


@handles(OrderCancelRequested, consumer="orders")
def on_order_cancel_requested(event: OrderCancelRequested, envelope: Envelope) -> None:
    services.order_cancel(order_id=event.order_id, user_id=event.user_id, envelope=envelope)


@handles(RefundCompleted, consumer="orders")
def on_refund_completed(event: RefundCompleted, envelope: Envelope) -> None:
    services.order_refund_completed(order_id=event.order_id, amount=event.amount, envelope=envelope)
