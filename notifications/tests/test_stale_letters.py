"""Beat's sweep of letters left pending (a worker died between storing and sending them)."""

from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Notification
from notifications.services import notifications_resend_stale

pytestmark = pytest.mark.django_db


def letter(*, age: float, status: str = Notification.Status.PENDING) -> Notification:
    notification = Notification.objects.create(
        user_id=uuid4(),
        kind=Notification.Kind.ORDER_CONFIRMED,
        reference=uuid4(),
        email="ada@example.com",
        subject="Your order is confirmed",
        body="Hello Ada",
        status=status,
    )
    Notification.objects.filter(pk=notification.pk).update(
        created_at=timezone.now() - timedelta(seconds=age)
    )
    return notification


def test_a_letter_left_pending_is_sent_once(mailoutbox):
    stale = letter(age=600)

    assert notifications_resend_stale(older_than=120) == 1
    assert notifications_resend_stale(older_than=120) == 0

    stale.refresh_from_db()
    assert stale.status == Notification.Status.SENT
    assert stale.attempts == 1
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]


def test_a_fresh_letter_and_a_failed_one_are_left_to_their_own_senders(mailoutbox):
    letter(age=5)  # its inline send is under way
    letter(age=600, status=Notification.Status.FAILED)  # its retrying task has it

    assert notifications_resend_stale(older_than=120) == 0
    assert mailoutbox == []


class Refused(Exception):
    pass


def refuse(*args, **kwargs):
    raise Refused("refused")


def test_a_failed_send_is_handed_to_the_retrying_task(mailoutbox, monkeypatch):
    scheduled = []
    fresh = letter(age=0)
    monkeypatch.setattr(services, "send_mail", refuse)
    monkeypatch.setattr(
        services.current_app, "send_task", lambda name, args, **kw: scheduled.append(args)
    )

    services.notification_deliver(fresh)

    fresh.refresh_from_db()
    assert fresh.status == Notification.Status.FAILED
    assert "Refused" in fresh.last_error
    assert scheduled == [(str(fresh.pk),)]


def test_a_letter_whose_retry_cannot_be_scheduled_is_left_to_the_sweep(mailoutbox, monkeypatch):
    fresh = letter(age=0)
    monkeypatch.setattr(services, "send_mail", refuse)
    monkeypatch.setattr(services.current_app, "send_task", refuse)  # the broker is down

    services.notification_deliver(fresh)  # raises nothing after the commit

    fresh.refresh_from_db()
    assert fresh.status == Notification.Status.PENDING
    monkeypatch.undo()
    assert notifications_resend_stale(older_than=0) == 1
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
