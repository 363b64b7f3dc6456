"""What the gateway does with the events it hears.

Most are answers: handed to the HTTP request that waits for them. UserDeactivated is not: it
stops the user's tokens (gateway/access.py).
"""

from gateway import replies
from gateway.access import access_revoke
from gateway.answers import ORDER
from gateway.services import order_request_settle
from kernel.catalog import UserDeactivated, consumed_by
from kernel.events import Envelope, Event
from kernel.inbox import handles


def on_answer(event: Event, envelope: Envelope) -> None:
    replies.answer(envelope)
    if envelope.type in ORDER.answers:
        # The final answer of a keyed order is kept in PostgreSQL as soon as it exists, also when
        # its request had already been answered 202: every repeat of the key replays it.
        code, body = ORDER.render(envelope)
        order_request_settle(order_id=envelope.payload["order_id"], status=code, body=body)


@handles(UserDeactivated, consumer="gateway", inbox=False)
def on_user_deactivated(event: UserDeactivated, envelope: Envelope) -> None:
    # Idempotent (the same key, the same time): no inbox row needed.
    access_revoke(user_id=event.user_id, since=envelope.occurred_at)


# Filing an answer twice changes nothing a client can see, so no inbox row is needed.
for _event_type in consumed_by("gateway"):
    if _event_type is not UserDeactivated:
        handles(_event_type, consumer="gateway", inbox=False)(on_answer)
