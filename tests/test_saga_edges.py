"""The saga at its edges, each ordering forced with the real workers: a refund at the balance's
cap, a timeout while the request still waits, Idempotency-Key replays across a timeout, an order
read or cancelled before the orders domain has placed it, and a dead letter whose event was
applied after all. Every test ends with the design's invariants."""

import time
import uuid
from decimal import Decimal

import pytest

from billing.models import DEPOSIT_CAP, Account, LedgerEntry
from conftest import eventually
from kernel.models import DeadLetter, OutboxEvent
from orders.models import Order
from tests.flows import balance, customer, deposit, order
from tests.invariants import assert_invariants

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live")]


@pytest.fixture(autouse=True)
def invariants(live):
    yield
    assert_invariants(timeout=60)


def credit_directly(user_id: str, amount: Decimal) -> None:
    """Book a deposit without the broker: the many maximal deposits a cap takes, in one row."""
    account = Account.objects.get(user_id=user_id)
    account.balance += amount
    account.save(update_fields=["balance", "updated_at"])
    LedgerEntry.objects.create(
        id=uuid.uuid4(),
        account=account,
        kind=LedgerEntry.Kind.DEPOSIT,
        amount=amount,
        balance_after=account.balance,
    )


def test_a_cancel_at_the_balance_cap_is_refunded(api):
    alice = customer(api)
    deposit(alice.client, "100.00")
    placed = order(alice.client, "50.00")
    assert placed["status"] == "confirmed"
    credit_directly(alice.user_id, DEPOSIT_CAP - Decimal("50.00"))
    assert balance(alice.client) == DEPOSIT_CAP
    refused = deposit(alice.client, "0.01", expect=409)
    assert refused["error"]["code"] == "balance_limit"

    response = alice.client.post(f"/order/{placed['id']}/cancel/")

    assert response.status_code == 200, response.content
    assert response.json()["refunded"] == "50.00"
    assert balance(alice.client) == DEPOSIT_CAP + Decimal("50.00")
    assert not DeadLetter.objects.exists()
    # Above the cap, deposits are refused until the balance is spent below it again.
    assert deposit(alice.client, "0.01", expect=409)["error"]["code"] == "balance_limit"
    assert order(alice.client, "1000.00")["status"] == "confirmed"
    assert balance(alice.client) == DEPOSIT_CAP + Decimal("50.00") - Decimal("1000.00")


def test_a_late_debit_refunded_behind_deposits_that_reached_the_cap(api, workers, settings):
    alice = customer(api)
    deposit(alice.client, "100.00")
    # After the late debit and the queued deposit, the balance is exactly at the cap.
    credit_directly(alice.user_id, DEPOSIT_CAP - Decimal("1000000.00") - Decimal("50.00"))
    settings.GATEWAY_REPLY_TIMEOUT = 0.5
    workers.stop("billing")
    try:
        placed = order(alice.client, "50.00", expect=202)
        eventually(
            lambda: Order.objects.get(pk=placed["id"]).status == "rejected",
            timeout=30,
            what="the order to time out",
        )
        assert deposit(alice.client, "1000000.00", expect=202)["status"] == "pending"
    finally:
        # One process: billing applies its queue in order, the debit, then the deposit, then
        # the refund of the late debit.
        workers.start("billing", concurrency=1)
    try:
        eventually(
            lambda: LedgerEntry.objects.filter(kind="refund", reference=placed["id"]).exists(),
            timeout=30,
            what="the refund of the late debit",
        )
        kinds = list(
            LedgerEntry.objects.filter(account__user_id=alice.user_id)
            .order_by("created_at")
            .values_list("kind", flat=True)
        )
        assert kinds[-3:] == ["debit", "deposit", "refund"]
        assert balance(alice.client) == DEPOSIT_CAP + Decimal("50.00")
        assert not DeadLetter.objects.exists()
    finally:
        workers.stop("billing")
        workers.start("billing")


def test_a_timeout_answers_the_request_still_waiting_for_it(api, workers, settings):
    alice = customer(api)
    deposit(alice.client, "100.00")
    settings.GATEWAY_REPLY_TIMEOUT = settings.ORDER_PENDING_TIMEOUT + 10
    workers.stop("billing")
    try:
        started = time.monotonic()
        response = alice.client.post("/order/", {"price": "30.00"}, format="json")
        waited = time.monotonic() - started
    finally:
        workers.start("billing")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] == "timeout"
    assert waited < settings.GATEWAY_REPLY_TIMEOUT
    # The rejection carries the request's correlation id and names what it answers: the debit
    # request that was not answered in time.
    correlation_id = uuid.UUID(response["X-Correlation-ID"])
    rejected = OutboxEvent.objects.get(type="OrderRejected")
    debit = OutboxEvent.objects.get(type="TransactionRequested", correlation_id=correlation_id)
    assert rejected.correlation_id == correlation_id
    assert rejected.envelope["causation_id"] == str(debit.id)
    operation = alice.client.get(f"/operation/{correlation_id}/").json()
    assert operation["status"] == "succeeded"
    assert operation["result"]["reason"] == "timeout"
    eventually(
        lambda: LedgerEntry.objects.filter(kind="refund").exists(),
        timeout=30,
        what="the refund of the late debit",
    )
