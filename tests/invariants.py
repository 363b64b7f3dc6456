"""The invariants of the design, checked against the database after every flow test.

1. For every account, balance = sum of its ledger; no balance is negative.
2. Every order ends confirmed, rejected or cancelled; a confirmed order has exactly one debit and
   no refund; a rejected or cancelled one nets to zero.
3. Exactly one outcome email per order outcome.
(4, a redelivered event changes nothing, and 5, a user reads only their own, have tests of their
own.)
"""

from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import Account, LedgerEntry
from conftest import eventually
from notifications.models import Notification
from orders.models import TERMINAL, Order

ZERO = Decimal("0.00")
OUTCOME_EMAILS = {
    Order.Status.CONFIRMED: {Notification.Kind.ORDER_CONFIRMED},
    Order.Status.REJECTED: {Notification.Kind.ORDER_REJECTED},
    Order.Status.CANCELLED: {Notification.Kind.ORDER_CONFIRMED, Notification.Kind.ORDER_CANCELLED},
}


def assert_money_invariants() -> None:
    sums = dict(LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")))
    for account in Account.objects.all():
        assert account.balance >= 0, account
        assert account.balance == sums.get(account.id, ZERO), (
            f"{account}: ledger sums to {sums.get(account.id)}"
        )


def _unsettled() -> list[str]:
    """What still keeps the sagas from their end: orders not terminal, late debits not refunded,
    outcome emails missing, orders requested that the orders domain never created."""
    from kernel.models import OutboxEvent

    problems = []
    orders = {str(order.id): order for order in Order.objects.all()}
    requested = OutboxEvent.objects.filter(type="OrderRequested").values_list(
        "envelope__payload__order_id", flat=True
    )
    problems += [
        f"order {order_id} requested, never created"
        for order_id in requested
        if order_id not in orders
    ]
    net = _net_by_order()
    emails = _emails_by_order()
    for order in orders.values():
        if order.status not in TERMINAL:
            problems.append(f"{order} not terminal")
        elif order.status != Order.Status.CONFIRMED and net.get(order.id, ZERO) != ZERO:
            problems.append(f"{order} nets {net[order.id]}")
        elif not emails.get(order.id, Counter()).keys() >= OUTCOME_EMAILS[order.status]:
            problems.append(f"{order} has emails {dict(emails.get(order.id, {}))}")
    return problems


def _net_by_order() -> dict:
    return dict(
        LedgerEntry.objects.filter(kind__in=["debit", "refund"])
        .values_list("reference")
        .annotate(total=Sum("amount"))
    )


def _emails_by_order() -> dict:
    emails: dict = defaultdict(Counter)
    for reference, kind in Notification.objects.exclude(
        kind__in=["welcome", "account_closed"]
    ).values_list("reference", "kind"):
        emails[reference][kind] += 1
    return emails


def assert_invariants(*, timeout: float = 30.0) -> dict[str, int]:
    """Wait for the sagas in flight to settle, then check every invariant. Returns the outcomes."""
    try:
        eventually(
            lambda: not _unsettled(), timeout=timeout, interval=0.2, what="every saga to settle"
        )
    except pytest.fail.Exception:
        pytest.fail(f"sagas not settled after {timeout}s: {_unsettled()[:10]}")
    assert_money_invariants()
    net = _net_by_order()
    debits = Counter(LedgerEntry.objects.filter(kind="debit").values_list("reference", flat=True))
    refunds = Counter(LedgerEntry.objects.filter(kind="refund").values_list("reference", flat=True))
    emails = _emails_by_order()
    outcomes: Counter = Counter()
    for order in Order.objects.all():
        outcomes[order.status] += 1
        assert debits[order.id] <= 1 and refunds[order.id] <= 1, order
        if order.status == Order.Status.CONFIRMED:
            assert debits[order.id] == 1 and refunds[order.id] == 0, order
            assert net[order.id] == -order.price, order
        else:
            assert net.get(order.id, ZERO) == ZERO, order
        sent = emails.get(order.id, Counter())
        assert set(sent) == OUTCOME_EMAILS[order.status], (order, sent)
        assert all(count == 1 for count in sent.values()), (order, sent)
    return dict(outcomes)


def saga_report(scenario: str) -> dict:
    """Check the invariants, then print (and return) what the scenario did to the sagas."""
    from django.db.models import F

    from kernel.models import DeadLetter, DeliveryFailure, InboxEvent, OutboxEvent

    outcomes = assert_invariants(timeout=90)
    refunded = set(LedgerEntry.objects.filter(kind="refund").values_list("reference", flat=True))
    report = {
        "sagas": Order.objects.count(),
        "outcomes": outcomes,
        "retried": DeliveryFailure.objects.count(),
        "redelivered": (
            InboxEvent.objects.filter(deliveries__gt=1).aggregate(n=Sum(F("deliveries") - 1))["n"]
            or 0
        )
        + (OutboxEvent.objects.aggregate(n=Sum("redeliveries"))["n"] or 0),
        "compensated": len(refunded),
        "dead_letters": DeadLetter.objects.count(),
        "lost": Order.objects.exclude(status__in=TERMINAL).count(),
    }
    print(f"\n[{scenario}] " + ", ".join(f"{key}: {value}" for key, value in report.items()))
    assert report["lost"] == 0
    return report


def quiesce(*, timeout: float = 60.0) -> None:
    """Wait until every event sent so far is applied by all its consumers (or dead-lettered),
    so that nothing of one test arrives in the next one's database."""
    from kernel.models import OutboxEvent

    eventually(
        lambda: not OutboxEvent.objects.filter(settled_at__isnull=True).exists(),
        timeout=timeout,
        interval=0.2,
        what="every event to be applied",
    )
