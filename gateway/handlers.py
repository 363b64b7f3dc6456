"""What the gateway does with the events it hears.

Most are answers: handed to the HTTP request that waits for them. UserDeactivated is not: it
stops the user's tokens (gateway/access.py).
"""

from gateway import replies
from gateway.access import access_revoke
from kernel.catalog import UserDeactivated, consumed_by
from kernel.events import Envelope, Event
from kernel.inbox import handles


def on_answer(event: Event, envelope: Envelope) -> None:
    replies.answer(envelope)


@handles(UserDeactivated, consumer="gateway", inbox=False)
def on_user_deactivated(event: UserDeactivated, envelope: Envelope) -> None:
    # Idempotent (the same key, the same time): no inbox row needed.
    access_revoke(user_id=event.user_id, since=envelope.occurred_at)


# Filing an answer twice changes nothing a client can see, so no inbox row is needed.
for _event_type in consumed_by("gateway"):
    if _event_type is not UserDeactivated:
        handles(_event_type, consumer="gateway", inbox=False)(on_answer)
