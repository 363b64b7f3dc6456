"""Deposits end to end, and the kernel's guarantees: idempotent consumption and the relay."""

from decimal import Decimal
from unittest import mock

import pytest

from billing.models import Account, LedgerEntry
from kernel.messaging import outbox
from kernel.messaging.models import InboxEvent, OutboxEvent
from tests.flows import balance, customer, deposit
from tests.invariants import assert_money_invariants
from tests.support import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live")]


def test_deposit_credits_the_account_and_writes_the_ledger(api):
    alice = customer(api)

    first = deposit(alice.client, "100.00")
    second = deposit(alice.client, "0.50")

    assert first["balance"] == "100.00"
    assert second["balance"] == "100.50"
    assert second["amount"] == "0.50"
    assert balance(alice.client) == Decimal("100.50")
    ledger = alice.client.get("/transaction/").json()["results"]
    assert [(e["kind"], e["amount"]) for e in ledger] == [
        ("deposit", "0.50"),
        ("deposit", "100.00"),
    ]
    assert ledger[0]["id"] == second["transaction_id"]
    assert_money_invariants()


def test_a_user_sees_only_their_own_ledger(api):
    alice, bob = customer(api), customer(api)
    deposit(alice.client, "10.00")
    assert bob.client.get("/transaction/").json()["results"] == []
    assert balance(bob.client) == Decimal("0.00")


def test_the_same_event_delivered_twice_is_credited_once(api):
    alice = customer(api)
    done = deposit(alice.client, "25.00")
    requested = OutboxEvent.objects.get(
        type="TransactionRequested", envelope__payload__transaction_id=done["transaction_id"]
    )

    outbox.send(requested.envelope)  # the broker brings the same message again
    outbox.send(requested.envelope)

    eventually(
        lambda: InboxEvent.objects.get(consumer="billing", event_id=requested.id).deliveries == 3,
        what="billing to receive both copies",
    )
    assert balance(alice.client) == Decimal("25.00")
    account = Account.objects.get(user_id=alice.user_id)
    assert LedgerEntry.objects.filter(account=account).count() == 1
    assert_money_invariants()


def _deposit_while(alice, patch: str, **how) -> tuple:
    with mock.patch(patch, **how):
        response = alice.client.post("/transaction/", {"amount": "40.00"}, format="json")
    # Nobody was told, so the gateway gave up waiting and answered with where to look.
    assert response.status_code == 202, response.content
    row = OutboxEvent.objects.get(
        type="TransactionRequested", correlation_id=response["X-Correlation-ID"]
    )
    return response["Location"], row


def _settles(alice, operation: str) -> None:
    # Beat runs the relay every second in the test settings: the flow completes by itself.
    eventually(
        lambda: balance(alice.client) == Decimal("40.00"),
        timeout=20,
        what="the relay to deliver the deposit",
    )
    outcome = eventually(
        lambda: (body := alice.client.get(operation).json())["status"] != "pending" and body,
        what="the operation to settle",
    )
    assert outcome["status"] == "succeeded"
    assert outcome["result"]["balance"] == "40.00"
    assert LedgerEntry.objects.filter(kind="deposit").count() == 1
    assert_money_invariants()


def test_an_event_lost_by_a_crash_after_commit_is_sent_by_the_relay(api, settings):
    alice = customer(api)
    settings.GATEWAY_REPLY_TIMEOUT = 0.5

    # The process dies after its transaction commits and before it reaches the broker.
    operation, row = _deposit_while(alice, "kernel.messaging.outbox.dispatch")

    _settles(alice, operation)
    row.refresh_from_db()
    assert row.redeliveries == 1  # sent again by the relay's second pass


def test_an_event_the_broker_refused_is_sent_by_the_relay(api, settings):
    alice = customer(api)
    settings.GATEWAY_REPLY_TIMEOUT = 0.5

    # The broker is down at commit: the row is reopened for the relay's first pass.
    operation, row = _deposit_while(
        alice, "kernel.messaging.outbox.send", side_effect=ConnectionError("broker down")
    )
    assert row.dispatched_at is None

    _settles(alice, operation)
    row.refresh_from_db()
    assert row.dispatched_at is not None and row.dispatch_attempts == 2


def test_deposit_before_the_account_exists_is_refused_without_writing(api):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = "00000000-0000-4000-8000-000000000001"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.post("/transaction/", {"amount": "5.00"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_account"
    assert not LedgerEntry.objects.exists()
