"""What the billing domain does when it hears an event."""

from billing.services import account_debit, account_deposit, account_open, account_refund
from contracts.catalog import RefundRequested, TransactionRequested, UserCreated
from kernel.messaging.events import Envelope
from kernel.messaging.inbox import handles


@handles(UserCreated, consumer="billing")
def on_user_created(event: UserCreated, envelope: Envelope) -> None:
    account_open(user_id=event.user_id)


@handles(TransactionRequested, consumer="billing")
def on_transaction_requested(event: TransactionRequested, envelope: Envelope) -> None:
    if event.kind == "deposit":
        account_deposit(
            transaction_id=event.transaction_id, user_id=event.user_id, amount=event.amount
        )
    else:
        account_debit(
            transaction_id=event.transaction_id,
            order_id=event.order_id,
            user_id=event.user_id,
            amount=event.amount,
        )


@handles(RefundRequested, consumer="billing")
def on_refund_requested(event: RefundRequested, envelope: Envelope) -> None:
    account_refund(order_id=event.order_id, user_id=event.user_id)
