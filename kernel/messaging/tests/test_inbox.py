"""Messages no retry can fix become dead letters, through the real worker, and never crash it."""

import uuid

import pytest
from celery import current_app
from django.utils import timezone

from kernel.messaging.inbox import PoisonMessage, parse
from kernel.messaging.models import DeadLetter
from kernel.messaging.outbox import DELIVER_TASK
from tests.support import eventually


def envelope(**changes):
    message = {
        "id": str(uuid.uuid4()),
        "type": "UserCreated",
        "version": 1,
        "occurred_at": timezone.now().isoformat(),
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "payload": {"user_id": str(uuid.uuid4()), "username": "ada", "email": "ada@example.com"},
    }
    return {**message, **changes}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"hello": "world"}, "malformed"),
        ("not even a dict", "malformed"),
        (envelope(type="UserDeleted"), "unknown_type"),
        (envelope(type="TransactionCreated"), "unknown_type"),  # billing does not consume it
        (envelope(version=2), "unsupported_version"),
        (envelope(payload={"user_id": "not-a-uuid"}), "malformed"),
        (
            envelope(
                payload={
                    "user_id": str(uuid.uuid4()),
                    "username": "a",
                    "email": "e",
                    "is_admin": True,
                }
            ),
            "malformed",
        ),
    ],
    ids=[
        "no envelope",
        "not an object",
        "unknown type",
        "not consumed here",
        "future version",
        "bad payload",
        "extra payload field",
    ],
)
def test_parse_refuses_what_cannot_be_applied(message, reason):
    with pytest.raises(PoisonMessage) as caught:
        parse("billing", message)
    assert caught.value.reason == reason


@pytest.mark.django_db(transaction=True)
def test_a_poison_message_becomes_a_dead_letter_and_the_worker_goes_on(workers):
    bad = envelope(type="UserDeleted")
    current_app.send_task(DELIVER_TASK, args=("billing", bad), queue="billing")
    current_app.send_task(DELIVER_TASK, args=("billing", {"junk": True}), queue="billing")

    eventually(lambda: DeadLetter.objects.count() == 2, what="both dead letters")
    letters = {d.reason: d for d in DeadLetter.objects.all()}
    assert letters["unknown_type"].event_id == uuid.UUID(bad["id"])
    assert letters["unknown_type"].consumer == "billing"
    assert letters["malformed"].event_id is None
    assert workers.procs["billing"].poll() is None  # still running
