"""Writing a letter: its template, its contact, once per kind and reference."""

from decimal import Decimal
from uuid import uuid4

import pytest

from notifications import services
from notifications.models import Contact, Notification

pytestmark = pytest.mark.django_db

Kind = Notification.Kind


@pytest.fixture
def ada() -> Contact:
    return services.contact_record(
        user_id=uuid4(), username="ada", email="ada@example.com", first_name="Ada"
    )


def test_a_letter_is_written_from_its_template_to_the_contact(ada):
    order_id = uuid4()

    notification_id = services.notification_write(
        kind=Kind.ORDER_REJECTED, user_id=ada.user_id, reference=order_id,
        reason="insufficient_funds", price=Decimal("250"), description="two books",
    )  # fmt: skip

    letter = Notification.objects.get(pk=notification_id)
    assert (letter.user_id, letter.kind, letter.reference) == (
        ada.user_id, Kind.ORDER_REJECTED, order_id,
    )  # fmt: skip
    assert letter.email == "ada@example.com" and letter.status == Notification.Status.PENDING
    assert letter.subject == f"Not enough money for your order {str(order_id)[:8]}"
    assert letter.body.startswith("Hello Ada,\n\nyour order (two books) is rejected: ")
    assert "250.00" in letter.body and str(order_id) in letter.body


def test_one_letter_per_kind_and_reference(ada):
    order_id = uuid4()
    write = dict(kind=Kind.ORDER_CONFIRMED, user_id=ada.user_id, reference=order_id)

    assert services.notification_write(**write, price=Decimal("10")) is not None
    assert services.notification_write(**write, price=Decimal("10")) is None
    assert Notification.objects.filter(reference=order_id).count() == 1


def test_the_greeting_falls_back_to_the_username():
    nameless = services.contact_record(user_id=uuid4(), username="bob", email="bob@example.com")

    services.notification_write(
        kind=Kind.WELCOME, user_id=nameless.user_id, reference=nameless.user_id
    )

    letter = Notification.objects.get(reference=nameless.user_id)
    assert letter.body.startswith("Hello bob,\n\nyour account bob is ready.")


def test_an_order_letter_waits_for_the_contact():
    with pytest.raises(services.ContactUnknown):
        services.notification_write(
            kind=Kind.ORDER_CONFIRMED, user_id=uuid4(), reference=uuid4(), price=Decimal("1")
        )
    assert not Notification.objects.exists()


def test_a_closed_account_never_welcomed_gets_no_letter():
    user_id = uuid4()

    assert (
        services.notification_write(
            kind=Kind.ACCOUNT_CLOSED, user_id=user_id, reference=user_id, reason="deleted"
        )
        is None
    )
    assert not Notification.objects.exists()


def test_a_closed_account_is_told_how(ada):
    services.notification_write(
        kind=Kind.ACCOUNT_CLOSED, user_id=ada.user_id, reference=ada.user_id, reason="deleted"
    )

    letter = Notification.objects.get(reference=ada.user_id)
    assert letter.subject == "Your account was deleted"
    assert "your account ada was deleted: you can no longer log in or order." in letter.body
