"""The relay's sweep when it gives up, and the purges: against the real database, no broker."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from kernel.messaging import inbox, outbox
from kernel.messaging.models import DeadLetter, DeliveryFailure, InboxEvent, OutboxEvent

pytestmark = pytest.mark.django_db


def sent_event(*, type_: str = "UserCreated", age: timedelta, redeliveries: int = 0):
    """An outbox row sent ``age`` ago that no consumer has applied."""
    sent_at = timezone.now() - age
    event_id = uuid.uuid4()
    row = OutboxEvent.objects.create(
        id=event_id,
        type=type_,
        correlation_id=uuid.uuid4(),
        envelope={"id": str(event_id), "type": type_, "payload": {}},
        dispatched_at=sent_at,
        last_sent_at=sent_at,
        dispatch_attempts=1,
        redeliveries=redeliveries,
    )
    OutboxEvent.objects.filter(pk=row.pk).update(created_at=sent_at)
    return row


def test_the_sweep_gives_up_after_its_last_redelivery_with_one_dead_letter_per_consumer(settings):
    settings.OUTBOX_MAX_REDELIVERIES = 2
    row = sent_event(age=timedelta(hours=1), redeliveries=2)
    consumers = inbox.inbox_consumers("UserCreated")
    # One consumer applied it; only the other is given up on.
    InboxEvent.objects.create(consumer=consumers[0], event_id=row.id, event_type=row.type)

    swept = outbox.sweep(after=1.0)

    assert swept["undelivered"] == 1 and swept["resent"] == 0
    letters = DeadLetter.objects.filter(event_id=row.id)
    assert [(d.consumer, d.reason) for d in letters] == [(c, "undelivered") for c in consumers[1:]]
    assert letters[0].attempts == 3
    row.refresh_from_db()
    assert row.settled_at is not None
    # Given up once: the next sweep neither resends nor dead-letters it again.
    assert outbox.sweep(after=1.0)["undelivered"] == 0
    assert DeadLetter.objects.filter(event_id=row.id).count() == len(consumers) - 1


def test_the_sweep_leaves_a_consumer_in_the_middle_of_its_retries_alone(settings):
    settings.OUTBOX_MAX_REDELIVERIES = 0
    row = sent_event(age=timedelta(minutes=5))
    for consumer in inbox.inbox_consumers("UserCreated"):
        DeliveryFailure.objects.create(
            consumer=consumer, event_id=row.id, event_type=row.type, attempt=1, error="busy"
        )

    assert outbox.sweep(after=1.0) == {"settled": 0, "resent": 0, "undelivered": 0}
    assert not DeadLetter.objects.exists()


def test_the_purges_forget_what_is_settled_and_old_and_keep_the_rest():
    old = timedelta(days=8)
    settled_old = sent_event(age=old)
    unsettled_old = sent_event(age=old)
    settled_new = sent_event(age=timedelta(minutes=1))
    OutboxEvent.objects.filter(pk__in=[settled_old.pk, settled_new.pk]).update(
        settled_at=timezone.now()
    )
    applied_old = InboxEvent.objects.create(consumer="x", event_id=uuid.uuid4(), event_type="E")
    applied_new = InboxEvent.objects.create(consumer="x", event_id=uuid.uuid4(), event_type="E")
    InboxEvent.objects.filter(pk=applied_old.pk).update(received_at=timezone.now() - old)
    failure = DeliveryFailure.objects.create(consumer="x", event_type="E", attempt=1, error="e")
    DeliveryFailure.objects.filter(pk=failure.pk).update(failed_at=timezone.now() - old)

    assert outbox.purge(days=7) == 1
    assert inbox.purge(days=7) == 1

    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {
        unsettled_old.pk,
        settled_new.pk,
    }
    assert list(InboxEvent.objects.values_list("pk", flat=True)) == [applied_new.pk]
    assert not DeliveryFailure.objects.exists()
