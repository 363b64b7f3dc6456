"""The order saga as the orders domain plays it: each function is one reaction to one event."""

import logging
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contracts.catalog import (
    OrderCancelled,
    OrderCancelRejected,
    OrderConfirmed,
    OrderCreated,
    OrderRejected,
    RefundRequested,
    TransactionRequested,
)
from kernel.messaging.context import message_context
from kernel.messaging.events import CATALOG, Envelope
from kernel.messaging.outbox import publish
from orders import metrics
from orders.models import TRANSITIONS, Order, OrderStep

logger = logging.getLogger(__name__)

Status = Order.Status


def _record(order: Order, *envelopes: Envelope) -> None:
    """Add the events of one step to the order's timeline: one INSERT, once per event."""
    steps = [
        OrderStep(
            order=order,
            event_id=envelope.id,
            event_type=envelope.type,
            # What orders publishes is its own step; what it consumes, its publisher's.
            domain="orders"
            if "orders" in CATALOG[envelope.type].publishers
            else CATALOG[envelope.type].publishers[0],
            occurred_at=envelope.occurred_at,
        )
        for envelope in envelopes
    ]
    OrderStep.objects.bulk_create(steps, ignore_conflicts=True)


def order_move(order: Order, *, to: str, **fields: object) -> bool:
    """Move ``order`` to ``to`` if the state machine allows it and nobody moved it meanwhile.

    A refused move is logged and changes nothing.
    """
    current = order.status
    if to not in TRANSITIONS.get(current, frozenset()):
        logger.warning("refused transition of order %s: %s -> %s", order.id, current, to)
        return False
    moved = Order.objects.filter(pk=order.pk, status=current).update(
        status=to, updated_at=timezone.now(), **fields
    )
    if not moved:
        logger.warning("refused transition of order %s to %s: no longer %s", order.id, to, current)
        return False
    order.status = to
    for name, value in fields.items():
        setattr(order, name, value)
    metrics.order_moved(to, str(fields.get("reason", "")))
    return True


def _outcome_fields(order: Order) -> dict:
    return {
        "order_id": order.id,
        "user_id": order.user_id,
        "price": order.price,
        "description": order.description,
    }


# Each service is one step: called by a handler it joins the handler's transaction (no savepoint);
# called alone it is a transaction of its own.
@transaction.atomic(savepoint=False)
def order_place(
    *, order_id: UUID, user_id: UUID, price: Decimal, description: str, requested: Envelope
) -> Order:
    """OrderRequested: create the order pending and ask billing for the money.

    The inbox applies each OrderRequested once; an order id met twice is a fault (the primary
    key refuses it and the delivery retries, then dead-letters), not a case to look up first.
    """
    order = Order.objects.create(
        id=order_id,
        user_id=user_id,
        price=price,
        description=description,
        deadline_at=timezone.now() + timedelta(seconds=settings.ORDER_PENDING_TIMEOUT),
        correlation_id=requested.correlation_id,
    )
    published = publish(
        OrderCreated(order_id=order.id, user_id=user_id, price=price),
        TransactionRequested(
            transaction_id=order.debit_transaction_id,
            user_id=user_id,
            amount=price,
            kind="debit",
            order_id=order.id,
        ),
    )
    _record(order, requested, *published)
    return order


def _locked(order_id: UUID) -> Order | None:
    order = Order.objects.locked().filter(pk=order_id).first()
    if order is None:
        logger.error("event for unknown order %s", order_id)
    return order


@transaction.atomic(savepoint=False)
def order_debit_completed(*, order_id: UUID, envelope: Envelope) -> None:
    """TransactionCompleted: confirm a pending order; refund a debit that came too late."""
    order = _locked(order_id)
    if order is None:
        return
    steps = [envelope]
    if order.status == Status.PENDING:
        order_move(order, to=Status.CONFIRMED)
        steps.extend(publish(OrderConfirmed(**_outcome_fields(order))))
    elif order.status == Status.REJECTED:
        logger.warning("late debit for rejected order %s: refunding", order.id)
        metrics.late_debit()
        steps.extend(
            publish(RefundRequested(order_id=order.id, user_id=order.user_id, reason="late_debit"))
        )
    else:
        logger.warning("debit for order %s in state %s ignored", order.id, order.status)
    _record(order, *steps)


@transaction.atomic(savepoint=False)
def order_debit_failed(*, order_id: UUID, reason: str, envelope: Envelope) -> None:
    """TransactionFailed: reject a pending order; nothing was taken, nothing to undo."""
    order = _locked(order_id)
    if order is None:
        return
    steps = [envelope]
    if order_move(order, to=Status.REJECTED, reason=reason):
        steps.extend(publish(OrderRejected(**_outcome_fields(order), reason=reason)))
    _record(order, *steps)


@transaction.atomic(savepoint=False)
def order_cancel(*, order_id: UUID, user_id: UUID, envelope: Envelope) -> None:
    """OrderCancelRequested: a confirmed order starts its refund; anything else is refused."""
    order = Order.objects.locked().filter(pk=order_id, user_id=user_id).first()
    if order is None:
        publish(OrderCancelRejected(order_id=order_id, user_id=user_id, reason="not_found"))
        return
    steps = _compensate(order)
    if steps is None:
        steps = publish(
            OrderCancelRejected(
                order_id=order.id, user_id=user_id, reason="not_cancellable", status=order.status
            )
        )
    _record(order, envelope, *steps)


class NotCancellable(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"only a confirmed order can be cancelled; this one is {status}")
        self.status = status


@transaction.atomic
def order_cancel_by_staff(*, order_id: UUID) -> Order:
    """Staff cancel a confirmed order from the admin: the compensation a customer's cancel
    starts, begun here by the domain that owns the order, so no request event travels to it.
    The refund goes through billing like any other; the order is cancelled when it is booked.
    Its own correlation id makes it a saga of its own, as a customer's cancel request is."""
    order = Order.objects.locked().get(pk=order_id)
    with message_context(correlation=uuid4()):
        steps = _compensate(order)
    if steps is None:
        raise NotCancellable(order.status)
    _record(order, *steps)
    return order


def _compensate(order: Order) -> list[Envelope] | None:
    """A confirmed order moves to cancelling and asks billing for its refund; None otherwise."""
    if not order_move(order, to=Status.CANCELLING):
        return None
    return publish(RefundRequested(order_id=order.id, user_id=order.user_id, reason="cancelled"))


@transaction.atomic(savepoint=False)
def order_refund_completed(*, order_id: UUID, amount: Decimal, envelope: Envelope) -> None:
    """RefundCompleted: a cancelling order is cancelled; a late debit's refund is only recorded."""
    order = _locked(order_id)
    if order is None:
        return
    steps = [envelope]
    if order.status == Status.CANCELLING:
        order_move(order, to=Status.CANCELLED, refunded=amount)
        steps.extend(publish(OrderCancelled(**_outcome_fields(order), refunded=amount)))
        metrics.refund_completed("cancelled")
    else:
        metrics.refund_completed("late_debit")
        Order.objects.filter(pk=order.pk).update(refunded=amount, updated_at=timezone.now())
    _record(order, *steps)


def orders_expire(*, batch: int = 200) -> int:
    """Reject orders pending past their deadline (the debit never answered).

    A timer, not an event, starts this step, so it names the saga itself: the rejection carries
    the order's correlation id (the waiting request, its /operation/ page and a trace all find
    it) and, as its cause, the debit request that went unanswered.
    """
    expired = 0
    with transaction.atomic():
        due = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, deadline_at__lte=timezone.now())
            .order_by("deadline_at")[:batch]
        )
        unanswered = dict(
            OrderStep.objects.filter(
                order__in=due, event_type=TransactionRequested.type_name()
            ).values_list("order_id", "event_id")
        )
        for order in due:
            if not order_move(order, to=Status.REJECTED, reason=Order.Reason.TIMEOUT):
                continue
            with message_context(
                correlation=order.correlation_id or uuid4(), causation=unanswered.get(order.id)
            ):
                rejected = publish(OrderRejected(**_outcome_fields(order), reason="timeout"))
            _record(order, *rejected)
            expired += 1
    if expired:
        logger.warning("rejected %d orders pending past their deadline", expired)
    return expired
