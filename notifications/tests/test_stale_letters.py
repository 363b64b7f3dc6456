"""A letter's one path from stored to sent: after the commit, the retrying task, and beat's
sweep of letters left pending (a worker died between storing and sending them)."""

import threading
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.utils import timezone

from notifications import services
from notifications.models import Notification
from notifications.services import notification_send, notifications_resend_stale

pytestmark = pytest.mark.django_db


def letter(
    *,
    age: float,
    status: str = Notification.Status.PENDING,
    attempts: int = 0,
    last_attempt: float | None = None,
) -> Notification:
    """A stored letter, made ``age`` seconds ago, last tried ``last_attempt`` seconds ago."""
    now = timezone.now()
    notification = Notification.objects.create(
        user_id=uuid4(),
        kind=Notification.Kind.ORDER_CONFIRMED,
        reference=uuid4(),
        email="ada@example.com",
        subject="Your order is confirmed",
        body="Hello Ada",
        status=status,
        attempts=attempts,
        last_attempt_at=None if last_attempt is None else now - timedelta(seconds=last_attempt),
    )
    Notification.objects.filter(pk=notification.pk).update(created_at=now - timedelta(seconds=age))
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
    # Its retrying task tried a minute ago, and waits at most RETRY_BACKOFF_MAX between tries.
    letter(age=600, status=Notification.Status.FAILED, attempts=4, last_attempt=60)

    assert notifications_resend_stale(older_than=120) == 0
    assert mailoutbox == []


def test_a_failed_letter_whose_retrying_task_was_lost_is_sent_by_the_sweep(mailoutbox):
    # Silent for longer than the task's longest wait plus the sweep's grace: the broker lost it.
    silent = services.RETRY_BACKOFF_MAX + 120 + 1
    lost = letter(age=3600, status=Notification.Status.FAILED, attempts=3, last_attempt=silent)
    given_up = letter(
        age=3600,
        status=Notification.Status.FAILED,
        attempts=services.RETRIES + 1,  # the first send and every retry failed
        last_attempt=silent,
    )

    assert notifications_resend_stale(older_than=120) == 1

    lost.refresh_from_db()
    given_up.refresh_from_db()
    assert lost.status == Notification.Status.SENT and lost.attempts == 4
    assert given_up.status == Notification.Status.FAILED  # left for the admin to show why
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]


def test_the_sweep_reads_the_unsent_letters_through_their_index():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the test table is too small to tell
    plan = services.stale_letters(older_than=120).values("id")[:100].explain()
    assert "notification_unsent_idx" in plan


def test_a_letter_is_delivered_after_the_commit_that_stores_it(mailoutbox):
    with transaction.atomic():
        notification_id = services._store(
            user_id=uuid4(), kind=Notification.Kind.WELCOME, reference=uuid4(),
            email="ada@example.com", subject="Welcome", body="Hello Ada",
        )  # fmt: skip
        assert mailoutbox == []  # nothing leaves before the commit

    # pytest-django's transaction is never committed: run what the commit would run.
    services.notification_deliver(notification_id)

    assert Notification.objects.get(pk=notification_id).status == Notification.Status.SENT
    assert [m.subject for m in mailoutbox] == ["Welcome"]


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

    assert services.notification_deliver(fresh.pk) is False

    fresh.refresh_from_db()
    assert fresh.status == Notification.Status.FAILED
    assert fresh.attempts == 1
    assert "Refused" in fresh.last_error
    assert scheduled == [(str(fresh.pk),)]


def test_a_letter_whose_retry_cannot_be_scheduled_is_left_to_the_sweep(mailoutbox, monkeypatch):
    fresh = letter(age=0)
    monkeypatch.setattr(services, "send_mail", refuse)
    monkeypatch.setattr(services.current_app, "send_task", refuse)  # the broker is down

    services.notification_deliver(fresh.pk)  # raises nothing after the commit

    fresh.refresh_from_db()
    assert fresh.status == Notification.Status.PENDING
    assert fresh.attempts == 1 and "Refused" in fresh.last_error
    monkeypatch.undo()
    assert notifications_resend_stale(older_than=0) == 1
    fresh.refresh_from_db()
    assert fresh.status == Notification.Status.SENT and fresh.attempts == 2
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]


def test_a_letter_the_sweep_fails_to_send_is_handed_to_the_retrying_task(mailoutbox, monkeypatch):
    scheduled = []
    stale = letter(age=600)
    monkeypatch.setattr(services, "send_mail", refuse)
    monkeypatch.setattr(
        services.current_app, "send_task", lambda name, args, **kw: scheduled.append(args)
    )

    assert notifications_resend_stale(older_than=120) == 0

    stale.refresh_from_db()
    assert stale.status == Notification.Status.FAILED
    assert scheduled == [(str(stale.pk),)]


def test_each_failed_retry_is_counted_and_the_letter_stays_with_its_task(mailoutbox, monkeypatch):
    failed = letter(age=0, status=Notification.Status.FAILED)
    monkeypatch.setattr(services, "send_mail", refuse)

    for _ in range(3):
        with pytest.raises(Refused):  # for the task to retry with its backoff
            notification_send(notification_id=failed.pk)

    failed.refresh_from_db()
    assert failed.status == Notification.Status.FAILED
    assert failed.attempts == 3 and failed.last_error == "Refused: refused"
    monkeypatch.undo()
    assert notification_send(notification_id=failed.pk) is not None
    failed.refresh_from_db()
    assert failed.status == Notification.Status.SENT and failed.attempts == 4


def test_a_sent_letter_is_not_sent_again(mailoutbox):
    sent = letter(age=600, status=Notification.Status.SENT)

    assert notification_send(notification_id=sent.pk) is None
    assert mailoutbox == []


@pytest.mark.django_db(transaction=True)
def test_a_letter_being_sent_elsewhere_is_skipped_not_sent_again(mailoutbox):
    stale = letter(age=600)
    locked, release = threading.Event(), threading.Event()

    def sending_elsewhere():
        try:
            with transaction.atomic():
                Notification.objects.select_for_update().get(pk=stale.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    elsewhere = threading.Thread(target=sending_elsewhere)
    elsewhere.start()
    try:
        assert locked.wait(10)
        assert notification_send(notification_id=stale.pk) is None
        assert notifications_resend_stale(older_than=120) == 0
    finally:
        release.set()
        elsewhere.join()
    assert mailoutbox == []
    stale.refresh_from_db()
    assert stale.status == Notification.Status.PENDING and stale.attempts == 0


def test_a_letter_is_sent_and_retried_on_the_notifications_queue():
    # Routed by the settings, not by the task's deprecated `queue` attribute: also a retry,
    # or a send made without naming the queue, reaches the notifications worker.
    from gateway_django.celery import app
    from notifications.services import SEND_TASK
    from notifications.tasks import send_notification

    assert app.amqp.router.route({}, SEND_TASK)["queue"].name == "notifications"
    assert getattr(send_notification, "queue", None) is None
