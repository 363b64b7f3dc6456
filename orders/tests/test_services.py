import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Order
from orders.services import order_move

pytestmark = pytest.mark.django_db


def make_order(status: str) -> Order:
    return Order.objects.create(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        price=Decimal("10.00"),
        status=status,
        deadline_at=timezone.now() + timedelta(minutes=1),
    )


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ("pending", "cancelled"),
        ("pending", "cancelling"),
        ("rejected", "confirmed"),
        ("cancelled", "confirmed"),
        ("confirmed", "rejected"),
        ("confirmed", "pending"),
        ("cancelling", "confirmed"),
        ("rejected", "cancelling"),
    ],
)
def test_an_illegal_transition_is_refused_logged_and_not_applied(start, to, caplog):
    order = make_order(start)
    with caplog.at_level(logging.WARNING, logger="orders.services"):
        assert order_move(order, to=to) is False
    assert "refused transition" in caplog.text
    order.refresh_from_db()
    assert order.status == start


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ("pending", "confirmed"),
        ("pending", "rejected"),
        ("confirmed", "cancelling"),
        ("cancelling", "cancelled"),
    ],
)
def test_the_legal_transitions_apply(start, to):
    order = make_order(start)
    assert order_move(order, to=to) is True
    order.refresh_from_db()
    assert order.status == to


def test_a_move_lost_to_a_concurrent_one_is_refused():
    order = make_order("pending")
    Order.objects.filter(pk=order.pk).update(status="rejected")
    assert order_move(order, to="confirmed") is False
    order.refresh_from_db()
    assert order.status == "rejected"
