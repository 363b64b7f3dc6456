"""The saga's outcomes, counted where the orders domain applies them, once each commits."""

from django.db import transaction
from prometheus_client import Counter

from kernel.telemetry.metrics import enabled

OUTCOMES = Counter(
    "orders_saga_outcomes",
    "Orders that reached an outcome: confirmed, rejected (by reason; timeout: the deadline "
    "passed) or cancelled (refunded).",
    ["outcome", "reason"],
)
LATE_DEBITS = Counter(
    "orders_late_debits",
    "Debits that arrived for an order already rejected; each one's refund was asked for.",
)
REFUNDS = Counter(
    "orders_refunds_completed",
    "Refunds billing booked for an order, by why: a cancel, or a late debit compensated.",
    ["reason"],
)
# The moves that end a saga (or its cancel); cancelling is a step on the way.
_OUTCOMES = frozenset({"confirmed", "rejected", "cancelled"})


def order_moved(to: str, reason: str = "") -> None:
    if enabled() and to in _OUTCOMES:
        transaction.on_commit(OUTCOMES.labels(to, reason).inc)


def late_debit() -> None:
    if enabled():
        transaction.on_commit(LATE_DEBITS.inc)


def refund_completed(reason: str) -> None:
    if enabled():
        transaction.on_commit(REFUNDS.labels(reason).inc)
