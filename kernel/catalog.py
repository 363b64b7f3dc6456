"""Every event of the system, declared once: its payload, its publisher and its consumers.

The names are those of the Event Collaboration design. A consumer listed here must register a
handler (``<domain>/handlers.py``) and a handler may only consume what is listed here; a test
keeps the two in step, and docs are generated from this module.
"""

from typing import Literal
from uuid import UUID

from pydantic import Field

from kernel.events import Event, Money, event

# --- Registration -----------------------------------------------------------------------------


@event(publisher="gateway", consumers=("users",))
class RegistrationRequested(Event):
    """Somebody asked for an account. The password is already hashed by the gateway."""

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


@event(publisher="billing", consumers=())
class AccountCreated(Event):
    """An account with balance 0 was opened for a user."""

    account_id: UUID
    user_id: UUID


# --- Money ------------------------------------------------------------------------------------


@event(publisher="gateway", consumers=("billing",))
class TransactionRequested(Event):
    """Move money on a user's account: a deposit from the gateway."""

    transaction_id: UUID
    user_id: UUID
    amount: Money
    kind: Literal["deposit"]


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
