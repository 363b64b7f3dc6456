"""Billing's services against the real database: the money model at its boundary, and what
holds a debit to once per order when two run at once."""

import uuid
from decimal import Decimal

import pytest

from billing.models import DEPOSIT_CAP
from billing.services import account_debit, account_deposit, account_refund
from billing.tests.factories import AccountFactory
from kernel.models import OutboxEvent

pytestmark = pytest.mark.django_db


def test_a_deposit_may_reach_the_cap_and_not_pass_it():
    account = AccountFactory(balance=DEPOSIT_CAP - Decimal("10.00"))

    assert account_deposit(
        transaction_id=uuid.uuid4(), user_id=account.user_id, amount=Decimal("10.00")
    )
    assert (
        account_deposit(
            transaction_id=uuid.uuid4(), user_id=account.user_id, amount=Decimal("0.01")
        )
        is None
    )

    account.refresh_from_db()
    assert account.balance == DEPOSIT_CAP
    refused = OutboxEvent.objects.get(type="TransactionRejected")
    assert refused.envelope["payload"]["reason"] == "balance_limit"


def test_a_refund_is_booked_past_the_cap_and_the_column_holds_far_more():
    account = AccountFactory(balance=Decimal("1000000.00"))
    order_id = uuid.uuid4()
    account_debit(
        transaction_id=uuid.uuid4(),
        order_id=order_id,
        user_id=account.user_id,
        amount=Decimal("1000000.00"),
    )
    account.balance = DEPOSIT_CAP
    account.save()

    refund = account_refund(order_id=order_id, user_id=account.user_id)

    account.refresh_from_db()
    assert refund.amount == Decimal("1000000.00")
    assert account.balance == refund.balance_after == DEPOSIT_CAP + Decimal("1000000.00")
    # The stored width: 18 digits before the point, a million times the cap.
    account.balance = Decimal("9" * 18 + ".99")
    account.save()
    account.refresh_from_db()
    assert account.balance == Decimal("9" * 18 + ".99")
