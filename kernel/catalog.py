"""Every event of the system, declared once: its payload, its publisher and its consumers.

The names are those of the Event Collaboration design. A consumer listed here must register a
handler (``<domain>/handlers.py``) and a handler may only consume what is listed here; a test
keeps the two in step, and docs are generated from this module.
"""

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from kernel.events import CATALOG, Event, Money, event

# --- Registration -----------------------------------------------------------------------------


@event(publisher="gateway", consumers=("users",))
class RegistrationRequested(Event):
    """Somebody asked for an account. The password is already hashed by the gateway."""

    secret_fields = ("password_hash",)

    user_id: UUID
    username: str = Field(max_length=150)
    email: str = Field(max_length=254)
    password_hash: str = Field(max_length=128)
    first_name: str = Field(default="", max_length=150)
    last_name: str = Field(default="", max_length=150)


@event(publisher="users", consumers=("billing", "notifications", "gateway"))
class UserCreated(Event):
    """A user exists: billing opens an account, notifications welcomes them."""

    user_id: UUID
    username: str
    email: str
    first_name: str = ""
    last_name: str = ""


@event(publisher="users", consumers=("gateway",))
class RegistrationRejected(Event):
    """The username or the email is taken; nothing was created."""

    user_id: UUID
    reason: Literal["username_taken", "email_taken"]


@event(publisher="users", consumers=("gateway", "notifications"))
class UserDeactivated(Event):
    """A user may no longer act: deactivated by staff, or deleted. The gateway refuses the
    tokens issued before it at once; notifications tells them. Billing and orders take no step:
    a user reaches them only through the gateway's commands, and what is under way finishes."""

    user_id: UUID
    reason: Literal["deactivated", "deleted"]


@event(publisher="billing", consumers=())
class AccountCreated(Event):
    """An account with balance 0 was opened for a user."""

    account_id: UUID
    user_id: UUID


# --- Money ------------------------------------------------------------------------------------


@event(publisher=("gateway", "orders"), consumers=("billing",))
class TransactionRequested(Event):
    """Move money on a user's account: a deposit (from the gateway) or an order's debit (orders)."""

    transaction_id: UUID
    user_id: UUID
    amount: Money
    kind: Literal["deposit", "debit"]
    order_id: UUID | None = None

    @model_validator(mode="after")
    def _debit_names_its_order(self) -> "TransactionRequested":
        if (self.kind == "debit") != (self.order_id is not None):
            raise ValueError("a debit names its order_id; a deposit names none")
        return self


@event(publisher="billing", consumers=("gateway",))
class TransactionCreated(Event):
    """A deposit was credited."""

    transaction_id: UUID
    user_id: UUID
    amount: Money
    balance: Money


@event(publisher="billing", consumers=("gateway",))
class TransactionRejected(Event):
    """A deposit was refused; the balance is unchanged."""

    transaction_id: UUID
    user_id: UUID
    amount: Money
    reason: Literal["no_account", "balance_limit"]


@event(publisher="billing", consumers=("orders",))
class TransactionCompleted(Event):
    """An order's price was debited."""

    transaction_id: UUID
    order_id: UUID
    user_id: UUID
    amount: Money


@event(publisher="billing", consumers=("orders",))
class TransactionFailed(Event):
    """An order's price could not be debited; nothing was taken."""

    transaction_id: UUID
    order_id: UUID
    user_id: UUID
    amount: Money
    reason: Literal["insufficient_funds", "no_account"]


@event(publisher="orders", consumers=("billing",))
class RefundRequested(Event):
    """Compensation: give back what an order's debit took (a cancel, or a debit that came late)."""

    order_id: UUID
    user_id: UUID
    reason: Literal["cancelled", "late_debit"]


@event(publisher="billing", consumers=("orders",))
class RefundCompleted(Event):
    """The debit of an order is undone; amount is 0.00 when there was nothing to undo."""

    order_id: UUID
    user_id: UUID
    refund_transaction_id: UUID | None
    amount: Money


# --- Orders -----------------------------------------------------------------------------------

OrderRejection = Literal["insufficient_funds", "no_account", "timeout"]


@event(publisher="gateway", consumers=("orders",))
class OrderRequested(Event):
    """A user asked for an order; the gateway made its id."""

    order_id: UUID
    user_id: UUID
    price: Money
    description: str = Field(default="", max_length=500)


@event(publisher="orders", consumers=())
class OrderCreated(Event):
    """The order exists, pending its payment."""

    order_id: UUID
    user_id: UUID
    price: Money


@event(publisher="orders", consumers=("notifications", "gateway"))
class OrderConfirmed(Event):
    """The order is paid: the saga's point of no return."""

    order_id: UUID
    user_id: UUID
    price: Money
    description: str = ""


@event(publisher="orders", consumers=("notifications", "gateway"))
class OrderRejected(Event):
    """The order will not happen; whatever was debited for it is refunded."""

    order_id: UUID
    user_id: UUID
    price: Money
    description: str = ""
    reason: OrderRejection


@event(publisher="gateway", consumers=("orders",))
class OrderCancelRequested(Event):
    """A user asked to cancel a confirmed order."""

    order_id: UUID
    user_id: UUID


@event(publisher="orders", consumers=("gateway",))
class OrderCancelRejected(Event):
    """The order cannot be cancelled (unknown to this user, or not confirmed)."""

    order_id: UUID
    user_id: UUID
    reason: Literal["not_found", "not_cancellable"]
    status: str | None = None


@event(publisher="orders", consumers=("notifications", "gateway"))
class OrderCancelled(Event):
    """A cancelled order, its price refunded."""

    order_id: UUID
    user_id: UUID
    price: Money
    description: str = ""
    refunded: Money


def consumed_by(domain: str) -> list[type[Event]]:
    """The event types addressed to ``domain``."""
    return [event_type for event_type in CATALOG.values() if domain in event_type.consumers]
