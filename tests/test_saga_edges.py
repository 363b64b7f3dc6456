"""The saga at its edges, each ordering forced with the real workers: a refund at the balance's
cap, a timeout while the request still waits, Idempotency-Key replays across a timeout, an order
read or cancelled before the orders domain has placed it, and a dead letter whose event was
applied after all. Every test ends with the design's invariants."""

import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.db import connection
from django.utils import timezone

from billing.models import DEPOSIT_CAP, Account, LedgerEntry
from gateway.models import OrderRequest
from kernel.messaging import outbox
from kernel.messaging.models import DeadLetter, OutboxEvent
from orders.models import Order
from tests.flows import balance, customer, db_session, deposit, order
from tests.invariants import assert_invariants
from tests.support import eventually

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


def test_an_idempotency_key_replays_the_first_final_answer(api, workers, settings):
    alice = customer(api)
    deposit(alice.client, "100.00")
    settings.GATEWAY_REPLY_TIMEOUT = 0.5
    workers.stop("billing")
    try:
        first = order(alice.client, "30.00", key="across-a-timeout", expect=202)
        pending = order(alice.client, "30.00", key="across-a-timeout", expect=202)
        assert pending["status"] == "pending" and pending["id"] == first["id"]
        eventually(
            lambda: Order.objects.get(pk=first["id"]).status == "rejected",
            timeout=30,
            what="the order to time out",
        )
        final = order(alice.client, "30.00", key="across-a-timeout")
    finally:
        workers.start("billing")

    assert final["id"] == first["id"]
    assert (final["status"], final["reason"]) == ("rejected", "timeout")
    eventually(
        lambda: LedgerEntry.objects.filter(kind="refund").exists(),
        timeout=30,
        what="the refund of the late debit",
    )
    assert order(alice.client, "30.00", key="across-a-timeout") == final
    assert Order.objects.count() == 1


def test_a_replay_racing_the_first_request_holds_no_transaction_open(api, workers, settings):
    alice = customer(api)
    deposit(alice.client, "100.00")
    settings.GATEWAY_REPLY_TIMEOUT = 3.0
    answers: dict = {}

    def place(name: str) -> None:
        try:
            answers[name] = order(alice.client, "30.00", key="racing", expect=202)
        finally:
            connection.close()

    workers.stop("billing")
    try:
        first = threading.Thread(target=place, args=("first",))
        first.start()
        eventually(
            lambda: OrderRequest.objects.filter(idempotency_key="racing").exists(),
            what="the first request to be recorded",
        )
        replay = threading.Thread(target=place, args=("replay",))
        replay.start()
        # A request between two statements of its transaction is idle in it for a moment; one
        # that waits for an answer inside it stays so for the whole wait.
        idle_in_transaction = 0
        checker = db_session()
        checker.autocommit = True
        with checker.cursor() as cursor:
            while first.is_alive() or replay.is_alive():
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'idle in transaction' AND application_name NOT LIKE 'worker-%' "
                    "AND state_change < now() - interval '1 second'"
                )
                idle_in_transaction = max(idle_in_transaction, cursor.fetchone()[0])
                time.sleep(0.05)
        checker.close()
    finally:
        workers.start("billing")

    assert answers["replay"]["id"] == answers["first"]["id"]
    assert idle_in_transaction == 0


def test_an_order_not_yet_placed_is_shown_pending_and_its_cancel_says_not_yet(
    api, workers, settings
):
    alice = customer(api)
    deposit(alice.client, "100.00")
    settings.GATEWAY_REPLY_TIMEOUT = 0.5
    workers.stop("orders")
    try:
        placed = alice.client.post(
            "/order/", {"price": "30.00", "description": "a kettle"}, format="json"
        )
        assert placed.status_code == 202, placed.content
        order_id = placed.json()["id"]

        shown = alice.client.get(placed["Location"])
        assert shown.status_code == 200, shown.content
        assert shown.json()["id"] == order_id
        assert shown.json()["status"] == "pending"
        assert (shown.json()["price"], shown.json()["description"]) == ("30.00", "a kettle")
        assert [step["event"] for step in shown.json()["timeline"]] == ["OrderRequested"]
        assert customer(api).client.get(placed["Location"]).status_code == 404

        # The order's event is held back, as by a broker slow to deliver it: the sweep takes it
        # for sent just now (the UPDATE waits for a sweep sending it to finish), then its copies
        # leave the orders queue. The cancel reaches orders first.
        requested = OutboxEvent.objects.filter(
            type="OrderRequested", correlation_id=placed["X-Correlation-ID"]
        )
        requested.update(last_sent_at=timezone.now() + timedelta(hours=1))
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("orders")
    finally:
        workers.start("orders")
    settings.GATEWAY_REPLY_TIMEOUT = 10.0
    cancel = alice.client.post(f"/order/{order_id}/cancel/")
    assert cancel.status_code == 409, cancel.content
    assert cancel.json()["error"]["code"] == "order_not_placed_yet"

    requested.update(last_sent_at=timezone.now() - timedelta(hours=1))  # the sweep sends it
    eventually(
        lambda: Order.objects.filter(pk=order_id, status="confirmed").exists(),
        timeout=30,
        what="the order to be placed and confirmed",
    )
    assert alice.client.post(f"/order/{order_id}/cancel/").status_code == 200
    assert balance(alice.client) == Decimal("100.00")


def test_a_dead_letter_whose_event_is_applied_after_all_is_closed(api, workers, settings):
    alice = customer(api)
    settings.GATEWAY_REPLY_TIMEOUT = 0.5
    workers.stop("billing")
    try:
        deposit(alice.client, "25.00", expect=202)
        settings.OUTBOX_MAX_REDELIVERIES = 0  # this sweep gives up at once
        eventually(
            lambda: outbox.sweep(after=0.0)["undelivered"],
            what="the sweep to give the deposit up",
        )
        letter = DeadLetter.objects.get(consumer="billing", reason="undelivered")
        assert letter.closed_at is None
    finally:
        workers.start("billing")

    eventually(lambda: balance(alice.client) == Decimal("25.00"), what="the deposit")
    letter = eventually(
        lambda: DeadLetter.objects.filter(pk=letter.pk, closed_at__isnull=False).first(),
        timeout=15,
        what="the relay to close the dead letter",
    )
    assert letter.closed_at >= letter.created_at
    assert not DeadLetter.objects.filter(closed_at__isnull=True).exists()
    order(alice.client, "5.00")  # the invariants need an order to check
