"""The table of letter templates: every kind and every reason has its text, and every letter
says what it is about."""

from decimal import Decimal
from typing import get_args
from uuid import UUID

import pytest

from contracts.catalog import OrderRejected, UserDeactivated
from notifications.letters import EVERY, TEMPLATES, Facts, render, template
from notifications.models import Notification

Kind = Notification.Kind
ORDER = UUID("0b6f1c2e-9d4a-4c1e-8f3b-2a7d5e6c9f10")
ORDER_KINDS = {Kind.ORDER_CONFIRMED, Kind.ORDER_REJECTED, Kind.ORDER_CANCELLED}
# What the event behind each kind gives a letter.
EVENT_FACTS = {
    Kind.WELCOME: {},
    Kind.ACCOUNT_CLOSED: {},
    Kind.ORDER_CONFIRMED: {"price": Decimal("250")},
    Kind.ORDER_REJECTED: {"price": Decimal("250")},
    Kind.ORDER_CANCELLED: {"price": Decimal("40.5"), "refunded": Decimal("40.5")},
}


def reasons(event, field: str = "reason") -> tuple[str, ...]:
    return get_args(event.model_fields[field].annotation)


def facts(kind: str, description: str = "") -> Facts:
    return Facts(
        name="Ada", username="ada", reference=ORDER, description=description, **EVENT_FACTS[kind]
    )


def test_every_kind_has_a_letter():
    assert {kind for kind, _ in TEMPLATES} == set(Kind.values)


def test_every_reason_of_a_rejection_and_of_a_closed_account_has_its_own_text():
    for kind, event in (
        (Kind.ORDER_REJECTED, OrderRejected),
        (Kind.ACCOUNT_CLOSED, UserDeactivated),
    ):
        assert {reason for k, reason in TEMPLATES if k == kind} == set(reasons(event)), kind
    bodies = [TEMPLATES[Kind.ORDER_REJECTED, r].body for r in reasons(OrderRejected)]
    assert len(set(bodies)) == len(bodies)


@pytest.mark.parametrize(("kind", "reason"), sorted(TEMPLATES))
def test_every_letter_renders_from_what_its_event_gives(kind, reason):
    subject, body = render(template(kind, reason), facts(kind, "two books"))

    assert subject and "{" not in subject and "{" not in body
    assert body.startswith("Hello Ada,\n\n") and body.endswith("\n")
    if kind in ORDER_KINDS:
        assert f"Order {ORDER}\n" in body
        assert str(ORDER)[:8] in subject
        assert "250.00" in body or "40.50" in body
        assert "(two books)" in body
    else:
        assert "your account ada" in body


def test_the_amounts_are_money_with_two_decimals():
    _, body = render(template(Kind.ORDER_CANCELLED), facts(Kind.ORDER_CANCELLED))

    assert "for 40.50 is cancelled; 40.50 is back on your balance." in body


@pytest.mark.parametrize(
    ("reason", "subject", "phrase"),
    [
        ("insufficient_funds", "Not enough money for your order 0b6f1c2e", "not enough money"),
        ("no_account", "Your order 0b6f1c2e could not be completed", "not open yet"),
        ("timeout", "Your order 0b6f1c2e could not be completed", "did not complete in time"),
    ],
)
def test_a_rejection_says_why(reason, subject, phrase):
    rendered_subject, body = render(
        template(Kind.ORDER_REJECTED, reason), facts(Kind.ORDER_REJECTED)
    )

    assert rendered_subject == subject
    assert phrase in body and "250.00" in body


def test_a_letter_without_a_description_leaves_no_brackets():
    _, body = render(template(Kind.ORDER_CONFIRMED), facts(Kind.ORDER_CONFIRMED))

    assert body == (
        f"Hello Ada,\n\nyour order for 250.00 is confirmed and paid.\n\nOrder {ORDER}\n"
    )


def test_a_template_that_needs_an_amount_the_event_did_not_give_fails_to_render():
    with pytest.raises(KeyError):
        render(template(Kind.ORDER_CONFIRMED), facts(Kind.WELCOME))


def test_a_kind_without_reasons_has_one_letter_for_every_reason_and_an_unknown_one_none():
    assert template(Kind.ORDER_CONFIRMED, "anything") is TEMPLATES[Kind.ORDER_CONFIRMED, EVERY]
    with pytest.raises(KeyError):
        template(Kind.ORDER_REJECTED, "no_such_reason")


def test_only_a_closed_account_does_without_the_contact():
    assert [key for key, letter in TEMPLATES.items() if not letter.wait_for_contact] == [
        (Kind.ACCOUNT_CLOSED, "deactivated"),
        (Kind.ACCOUNT_CLOSED, "deleted"),
    ]
