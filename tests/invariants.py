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


def _settled() -> bool:
    """Every order terminal, every late debit refunded, every outcome email stored."""
    orders = list(Order.objects.all())
    if any(order.status not in TERMINAL for order in orders):
        return False
    net = _net_by_order()
    if any(o.status != Order.Status.CONFIRMED and net.get(o.id, ZERO) != ZERO for o in orders):
        return False
    emails = _emails_by_order()
    return all(emails.get(o.id, Counter()).keys() >= OUTCOME_EMAILS[o.status] for o in orders)


def _net_by_order() -> dict:
    return dict(
        LedgerEntry.objects.filter(kind__in=["debit", "refund"])
        .values_list("reference")
        .annotate(total=Sum("amount"))
    )


def _emails_by_order() -> dict:
    emails: dict = defaultdict(Counter)
    for reference, kind in Notification.objects.exclude(kind="welcome").values_list(
        "reference", "kind"
    ):
        emails[reference][kind] += 1
    return emails


def assert_invariants(*, timeout: float = 30.0) -> dict[str, int]:
    """Wait for the sagas in flight to settle, then check every invariant. Returns the outcomes."""
    eventually(_settled, timeout=timeout, interval=0.2, what="every saga to settle")
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
