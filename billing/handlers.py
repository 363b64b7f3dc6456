"""What the billing domain does when it hears an event."""

from billing.services import account_deposit, account_open
from kernel.catalog import TransactionRequested, UserCreated
from kernel.events import Envelope
from kernel.inbox import handles


@handles(UserCreated, consumer="billing")
def on_user_created(event: UserCreated, envelope: Envelope) -> None:
    account_open(user_id=event.user_id)


@handles(TransactionRequested, consumer="billing")
def on_transaction_requested(event: TransactionRequested, envelope: Envelope) -> None:
    account_deposit(transaction_id=event.transaction_id, user_id=event.user_id, amount=event.amount)
