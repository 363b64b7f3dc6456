import logging

import pytest

from orders.models import Order
from orders.services import order_move
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def make_order(status: str) -> Order:
    return OrderFactory(status=status)


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
