"""What the gateway does with the events it hears.

Most are answers: handed to the HTTP request that waits for them. UserDeactivated is not: it
stops the user's tokens (gateway/access.py).
"""

import gateway.answers  # noqa: F401 - declares the operations whose answers arrive here
from contracts.catalog import UserDeactivated, consumed_by
from gateway import operations
from gateway.access import access_revoke
from kernel.messaging.events import Envelope, Event
from kernel.messaging.inbox import handles


def on_answer(event: Event, envelope: Envelope) -> None:
    # Kept on its operation as soon as it exists, also when its request was answered 202 long
    # ago: /operation/<id>/ and every repeat of an Idempotency-Key read it there.
    operations.settle(envelope)


@handles(UserDeactivated, consumer="gateway")
def on_user_deactivated(event: UserDeactivated, envelope: Envelope) -> None:
    access_revoke(user_id=event.user_id, since=envelope.occurred_at)


# Applying an answer twice would change nothing (the first kept stays), but the inbox row is how
# the outbox sweep knows the gateway has it: an answer the broker lost (Redis restarted empty, a
# worker killed holding it) is sent again, so every accepted request reaches its outcome.
for _event_type in consumed_by("gateway"):
    if _event_type is not UserDeactivated:
        handles(_event_type, consumer="gateway")(on_answer)
