"""Every letter notifications writes, as one table of templates by kind.

A template is a subject and a body in ``str.format`` syntax over the names that
:meth:`Facts.context` gives; :func:`render` adds the greeting. A kind whose text depends on
the event's reason (a rejection, a closed account) has one template per reason. Rendering is
pure: storing and sending a letter is ``services.notification_write`` and what follows it.
"""

from dataclasses import dataclass
from decimal import Decimal
from string import Formatter
from uuid import UUID

from kernel.money import money_str
from notifications.models import Notification

Kind = Notification.Kind


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    # What to do when the user's contact is not known yet. An order letter waits for it (its
    # UserCreated is on the way: the handler's retry finds it). A closed account does not: the
    # user was removed before UserCreated reached notifications, so there is nobody to tell.
    wait_for_contact: bool = True

    def fields(self) -> set[str]:
        """The names the subject and body use: what a letter of this kind needs to be written."""
        return {
            name
            for text in (self.subject, self.body)
            for _, name, _, _ in Formatter().parse(text)
            if name
        }


# One letter for a kind, whatever the event's reason.
EVERY = ""

_REJECTED = "your order{about} is rejected: "
_ORDER = "\n\nOrder {order_id}"

TEMPLATES: dict[tuple[str, str], Template] = {
    (Kind.WELCOME, EVERY): Template(
        subject="Welcome to the order platform",
        body="your account {username} is ready. Top up your balance and place orders;\n"
        "we will write to you about each of them.",
    ),
    (Kind.ACCOUNT_CLOSED, "deactivated"): Template(
        subject="Your account was deactivated",
        body="your account {username} was deactivated: you can no longer log in or order.\n"
        "Orders already under way finish, and you hear about each of them.",
        wait_for_contact=False,
    ),
    (Kind.ACCOUNT_CLOSED, "deleted"): Template(
        subject="Your account was deleted",
        body="your account {username} was deleted: you can no longer log in or order.\n"
        "Orders already under way finish, and you hear about each of them.",
        wait_for_contact=False,
    ),
    (Kind.ORDER_CONFIRMED, EVERY): Template(
        subject="Your order {order} is confirmed",
        body="your order{about} for {price} is confirmed and paid." + _ORDER,
    ),
    (Kind.ORDER_REJECTED, "insufficient_funds"): Template(
        subject="Not enough money for your order {order}",
        body=_REJECTED + "there is not enough money on your account to pay {price}. "
        "Top up your balance and order again." + _ORDER,
    ),
    (Kind.ORDER_REJECTED, "no_account"): Template(
        subject="Your order {order} could not be completed",
        body=_REJECTED + "your account is not open yet, so {price} could not be taken." + _ORDER,
    ),
    (Kind.ORDER_REJECTED, "timeout"): Template(
        subject="Your order {order} could not be completed",
        body=_REJECTED + "the payment of {price} did not complete in time, so the order was "
        "called off. Anything taken for it is refunded." + _ORDER,
    ),
    (Kind.ORDER_CANCELLED, EVERY): Template(
        subject="Your order {order} is cancelled",
        body="your order{about} for {price} is cancelled; {refunded} is back on your balance."
        + _ORDER,
    ),
}


def template(kind: str, reason: str = EVERY) -> Template:
    """The template of a kind, for the event's reason if the kind has one per reason."""
    found = TEMPLATES.get((kind, reason)) or TEMPLATES.get((kind, EVERY))
    if found is None:
        raise KeyError(f"no letter {kind!r} for reason {reason!r}")
    return found


@dataclass(frozen=True)
class Facts:
    """What a template may say: the user's name from their contact, the rest from the event.

    ``reference`` is what the letter is about: the user for an account letter, the order for
    an order letter.
    """

    name: str
    username: str
    reference: UUID
    price: Decimal | None = None
    refunded: Decimal | None = None
    description: str = ""

    def context(self) -> dict[str, str]:
        """The names a template may use. An amount the event did not give is left out, so a
        template that needs it fails to render instead of writing a blank."""
        context = {
            "name": self.name,
            "username": self.username,
            "order_id": str(self.reference),
            "order": str(self.reference)[:8],
            "about": f" ({self.description})" if self.description else "",
        }
        if self.price is not None:
            context["price"] = money_str(self.price)
        if self.refunded is not None:
            context["refunded"] = money_str(self.refunded)
        return context


def render(letter: Template, facts: Facts) -> tuple[str, str]:
    """The subject and the body of a letter, greeting included."""
    context = facts.context()
    body = letter.body.format(**context)
    return letter.subject.format(**context), f"Hello {facts.name},\n\n{body}\n"
