"""Billing's services against the real database: the money model at its boundary, and what
holds a debit to once per order when two run at once."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection

from billing.models import DEPOSIT_CAP, LedgerEntry
from billing.services import account_debit, account_deposit, account_refund
from billing.tests.factories import AccountFactory
from kernel.messaging.models import OutboxEvent
from tests.flows import db_session
from tests.support import eventually

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


@pytest.mark.django_db(transaction=True)
def test_a_second_debit_of_one_order_that_waited_on_the_lock_is_refused_by_the_ledger():
    """Read committed: the EXISTS that looks for an earlier debit runs on the snapshot taken
    before the row lock was granted, so it misses a debit committed while it waited. The ledger's
    one-debit-per-order constraint refuses the second debit and its transaction rolls back whole;
    the delivery's retry then finds the debit and books nothing."""
    account = AccountFactory(balance=Decimal("100.00"))
    order_id = uuid.uuid4()
    first = db_session()
    with first.cursor() as cursor:
        cursor.execute("SELECT 1 FROM billing_account WHERE id = %s FOR UPDATE", [account.id])
        cursor.execute(
            "UPDATE billing_account SET balance = balance - 30 WHERE id = %s", [account.id]
        )
        cursor.execute(
            "INSERT INTO billing_ledgerentry "
            "(id, account_id, kind, amount, balance_after, reference, created_at) "
            "VALUES (%s, %s, 'debit', -30, 70, %s, now())",
            [str(uuid.uuid4()), account.id, str(order_id)],
        )
    outcome: dict = {}

    def second_debit() -> None:
        try:
            account_debit(
                transaction_id=uuid.uuid4(),
                order_id=order_id,
                user_id=account.user_id,
                amount=Decimal("30.00"),
            )
        except IntegrityError as exc:
            outcome["refused"] = exc
        finally:
            connection.close()

    racer = threading.Thread(target=second_debit)
    racer.start()
    eventually(lambda: _waiting_on_a_lock(), what="the second debit to wait on the account")
    first.commit()
    first.close()
    racer.join(timeout=10)

    assert "ledger_one_entry_per_kind_and_reference" in str(outcome["refused"])
    account.refresh_from_db()
    assert account.balance == Decimal("70.00")
    # The retry: the debit is found, nothing is booked or published.
    again = account_debit(
        transaction_id=uuid.uuid4(),
        order_id=order_id,
        user_id=account.user_id,
        amount=Decimal("30.00"),
    )
    assert again.amount == Decimal("-30.00")
    assert LedgerEntry.objects.filter(kind="debit", reference=order_id).count() == 1
    account.refresh_from_db()
    assert account.balance == Decimal("70.00")
    assert not OutboxEvent.objects.exists()


def _waiting_on_a_lock() -> bool:
    with db_session() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        waiting = cursor.fetchone()[0] > 0
    conn.close()
    return waiting
