"""The order saga end to end: gateway → orders → billing → orders → notifications and gateway,
with its compensations, through real workers. Every test ends with the design's invariants."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import LedgerEntry
from conftest import eventually
from kernel import outbox
from kernel.models import InboxEvent, OutboxEvent
from orders.models import Order
from tests.flows import balance, customer, deposit, emails, order
from tests.invariants import assert_invariants, saga_report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live")]


@pytest.fixture(autouse=True)
def invariants(live):
    """After each test, while its data is still there: the design's invariants."""
    yield
    outcomes = assert_invariants()
    assert outcomes, "no order to check"


def test_an_order_the_balance_covers_is_confirmed_and_debited_once(api):
    alice = customer(api)
    deposit(alice.client, "300.00")

    placed = order(alice.client, "250.00", description="a bicycle")

    assert placed["status"] == "confirmed"
    assert placed["price"] == "250.00"
    assert balance(alice.client) == Decimal("50.00")
    debits = LedgerEntry.objects.filter(kind="debit", reference=placed["id"])
    assert [d.amount for d in debits] == [Decimal("-250.00")]
    letters = eventually(lambda: emails(alice.client, "order_confirmed"), what="the letter")
    assert len(letters) == 1
    assert "confirmed" in letters[0]["subject"]
    assert placed["id"] in letters[0]["body"] and "250.00" in letters[0]["body"]


def test_an_order_the_balance_does_not_cover_is_rejected_and_nothing_is_taken(api):
    alice = customer(api)
    deposit(alice.client, "100.00")

    placed = order(alice.client, "250.00")

    assert placed["status"] == "rejected"
    assert placed["reason"] == "insufficient_funds"
    assert balance(alice.client) == Decimal("100.00")
    assert not LedgerEntry.objects.filter(kind="debit").exists()
    letters = eventually(lambda: emails(alice.client, "order_rejected"), what="the letter")
    assert len(letters) == 1
    assert "Not enough money" in letters[0]["subject"]
    assert placed["id"] in letters[0]["body"] and "250.00" in letters[0]["body"]


def test_fifty_orders_at_once_never_overdraw(api):
    alice = customer(api)
    deposit(alice.client, "1000.00")
    barrier = threading.Barrier(50)

    def place(_: int) -> str:
        barrier.wait()
        try:
            response = alice.client.post("/order/", {"price": "30.00"}, format="json")
            if response.status_code == 202:  # a loaded machine: read the outcome when it comes
                return eventually(
                    lambda: (
                        (state := alice.client.get(response["Location"]).json()["status"])
                        != "pending"
                        and state
                    ),
                    timeout=60,
                    what="the order's outcome",
                )
            return response.json().get("status", str(response.status_code))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = Counter(pool.map(place, range(50)))

    assert statuses == {"confirmed": 33, "rejected": 17}
    assert balance(alice.client) == Decimal("10.00")
    assert Order.objects.filter(status="confirmed").count() == 33


def test_a_redelivered_debit_request_debits_once(api):
    alice = customer(api)
    deposit(alice.client, "100.00")
    placed = order(alice.client, "40.00")
    debit = OutboxEvent.objects.get(
        type="TransactionRequested", envelope__payload__order_id=placed["id"]
    )

    outbox.send(debit.envelope)

    eventually(
        lambda: InboxEvent.objects.get(consumer="billing", event_id=debit.id).deliveries == 2,
        what="billing to receive the copy",
    )
    assert balance(alice.client) == Decimal("60.00")
    assert LedgerEntry.objects.filter(kind="debit").count() == 1


def test_cancel_refunds_and_a_redelivered_refund_request_refunds_once(api):
    alice = customer(api)
    deposit(alice.client, "100.00")
    placed = order(alice.client, "40.00", description="a lamp")

    response = alice.client.post(f"/order/{placed['id']}/cancel/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["refunded"] == "40.00"
    assert balance(alice.client) == Decimal("100.00")
    refund = OutboxEvent.objects.get(type="RefundRequested")
    outbox.send(refund.envelope)
    eventually(
        lambda: InboxEvent.objects.get(consumer="billing", event_id=refund.id).deliveries == 2,
        what="billing to receive the copy",
    )
    assert balance(alice.client) == Decimal("100.00")
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    letters = eventually(lambda: emails(alice.client, "order_cancelled"), what="the letter")
    assert "40.00" in letters[0]["body"]
    detail = alice.client.get(f"/order/{placed['id']}/").json()
    assert detail["status"] == "cancelled"
    events = [step["event"] for step in detail["timeline"]]
    assert events == [
        "OrderRequested",
        "OrderCreated",
        "TransactionRequested",
        "TransactionCompleted",
        "OrderConfirmed",
        "OrderCancelRequested",
        "RefundRequested",
        "RefundCompleted",
        "OrderCancelled",
    ]


def test_only_a_confirmed_order_can_be_cancelled(api):
    alice = customer(api)
    deposit(alice.client, "10.00")
    rejected = order(alice.client, "20.00")
    confirmed = order(alice.client, "5.00")
    assert alice.client.post(f"/order/{confirmed['id']}/cancel/").status_code == 200

    for target in (rejected, confirmed):
        response = alice.client.post(f"/order/{target['id']}/cancel/")
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "not_cancellable"
    assert balance(alice.client) == Decimal("10.00")


def test_orders_are_private(api):
    alice, mallory = customer(api), customer(api)
    deposit(alice.client, "10.00")
    placed = order(alice.client, "5.00")

    assert mallory.client.get(f"/order/{placed['id']}/").status_code == 404
    assert mallory.client.get("/order/").json()["results"] == []
    response = mallory.client.post(f"/order/{placed['id']}/cancel/")
    assert response.status_code == 404
    assert alice.client.get("/order/").json()["results"][0]["id"] == placed["id"]
    assert balance(alice.client) == Decimal("5.00")


def test_the_same_idempotency_key_never_orders_twice(api):
    alice = customer(api)
    deposit(alice.client, "100.00")

    first = order(alice.client, "30.00", key="order-1")
    again = order(alice.client, "30.00", key="order-1")
    other = alice.client.post(
        "/order/",
        {"price": "31.00", "description": "a book"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-1",
    )

    assert again == first
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert balance(alice.client) == Decimal("70.00")


def test_racing_requests_with_one_idempotency_key_make_one_order(api):
    alice = customer(api)
    deposit(alice.client, "100.00")
    barrier = threading.Barrier(8)

    def place(_: int) -> tuple[int, str]:
        barrier.wait()
        try:
            response = alice.client.post(
                "/order/", {"price": "30.00"}, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
            return response.status_code, response.json().get("id")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = set(pool.map(place, range(8)))

    assert len(answers) == 1, answers
    assert Order.objects.count() == 1
    assert balance(alice.client) == Decimal("70.00")


def test_billing_down_times_the_order_out_and_its_late_debit_is_refunded(api, workers, settings):
    alice = customer(api)
    deposit(alice.client, "100.00")
    settings.GATEWAY_REPLY_TIMEOUT = 1.0
    workers.stop("billing")
    try:
        response = alice.client.post("/order/", {"price": "60.00"}, format="json")
        assert response.status_code == 202, response.content
        order_url = response["Location"]
        assert order_url.endswith(f"/order/{response.json()['id']}/")

        # The sweeper rejects it once ORDER_PENDING_TIMEOUT has passed.
        rejected = eventually(
            lambda: (body := alice.client.get(order_url).json())["status"] == "rejected" and body,
            timeout=30,
            what="the order to time out",
        )
        assert rejected["reason"] == "timeout"
    finally:
        workers.start("billing")

    # Billing comes back, debits from its backlog, and the late debit is refunded.
    eventually(
        lambda: LedgerEntry.objects.filter(kind="refund").exists(),
        timeout=30,
        what="the refund of the late debit",
    )
    assert balance(alice.client) == Decimal("100.00")
    assert alice.client.get(order_url).json()["status"] == "rejected"
    letters = eventually(lambda: emails(alice.client, "order_rejected"), what="the letter")
    assert "did not complete in time" in letters[0]["body"]
    report = saga_report("billing down longer than the saga timeout")
    assert report["compensated"] == 1
