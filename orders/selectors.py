from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet

from contracts.catalog import ORDER_SAGA
from contracts.domains import DOMAINS
from kernel.messaging.trace import DEAD, WAITING, Diagram, TracedEvent, sequence, trace
from orders.models import Order


def order_list(*, user_id: UUID | str) -> QuerySet[Order]:
    return Order.objects.filter(user_id=user_id).order_by("-created_at", "id")


def order_get(*, user_id: UUID | str, order_id: UUID | str) -> Order | None:
    return Order.objects.filter(pk=order_id, user_id=user_id).prefetch_related("steps").first()


# The diagram's lanes in the order an order's saga crosses them; a domain added later goes last.
_SAGA_ORDER = ("gateway", "orders", "billing", "notifications")
LANES = (*_SAGA_ORDER, *(domain for domain in DOMAINS if domain not in _SAGA_ORDER))


@dataclass(frozen=True)
class ExpectedStep:
    event: str
    publisher: str
    consumers: tuple[str, ...]
    occurred_at: datetime | None


@dataclass(frozen=True)
class OrderSaga:
    """An order's saga as it happened, for the operator: the events across the domains, the
    path it was expected to take (``contracts.catalog.ORDER_SAGA``) and where it is now."""

    events: list[TracedEvent]
    expected: list[ExpectedStep]
    where: str
    diagram: Diagram


def order_saga(*, order: Order) -> OrderSaga:
    """The events of the order's request, and of every request that continued its saga (a
    cancel), from the outbox and the inboxes; only those about this order."""
    events = trace(
        correlation_ids=[order.correlation_id],
        event_ids=order.steps.values_list("event_id", flat=True),
        keep=lambda envelope: envelope.get("payload", {}).get("order_id") == str(order.id),
    )
    happened = {}
    for event in events:
        happened.setdefault(event.type, event.occurred_at)
    expected = [
        ExpectedStep(
            event=step.type_name(),
            publisher=step.publishers[-1],  # an order's debit is asked by orders, not the gateway
            consumers=step.consumers,
            occurred_at=happened.get(step.type_name()),
        )
        for step in ORDER_SAGA
    ]
    where = _where(order, events, expected)
    return OrderSaga(events, expected, where, sequence(events, lanes=LANES))


def _where(order: Order, events: list[TracedEvent], expected: list[ExpectedStep]) -> str:
    """Where the saga is, in a sentence: stopped at a dead letter, waiting for a consumer or a
    step, or ended (and how)."""
    for event in events:
        for delivery in event.deliveries:
            if delivery.state == DEAD:
                letter = delivery.dead_letter
                return (
                    f"Stopped: {delivery.consumer} could not apply {event.type} "
                    f"(dead letter, {letter.reason}); replay it from the dead letters."
                )
    for event in events:
        for delivery in event.deliveries:
            if delivery.state == WAITING:
                return f"Waiting for {delivery.consumer} to apply {event.type}."
    if not events:
        return "No event of this order is left in the outbox (purged after the retention)."
    missing = next((step for step in expected if step.occurred_at is None), None)
    status = Order.Status
    if order.status == status.PENDING:
        return f"Waiting for {missing.publisher}'s {missing.event}." if missing else "Pending."
    if order.status == status.REJECTED:
        stopped = f"Stopped before {missing.event} ({missing.publisher})" if missing else "Stopped"
        return f"{stopped}: the order was rejected, reason {order.reason}."
    if order.status == status.CANCELLING:
        return "Compensating: the refund is asked of billing; waiting for RefundCompleted."
    if order.status == status.CANCELLED:
        return f"Compensated: {order.refunded} refunded, the order is cancelled."
    return "Complete: every step happened and every consumer applied its events."
