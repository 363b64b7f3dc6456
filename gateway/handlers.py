"""The gateway consumes answer events only to hand them to the HTTP request that waits for them.

Every event the catalog addresses to the gateway is such an answer, so all share one handler.
"""

from gateway import replies
from gateway.answers import ORDER
from gateway.services import order_request_settle
from kernel.catalog import consumed_by
from kernel.events import Envelope, Event
from kernel.inbox import handles


def on_answer(event: Event, envelope: Envelope) -> None:
    replies.answer(envelope)
    if envelope.type in ORDER.answers:
        # The final answer of a keyed order is kept in PostgreSQL as soon as it exists, also when
        # its request had already been answered 202: every repeat of the key replays it.
        code, body = ORDER.render(envelope)
        order_request_settle(order_id=envelope.payload["order_id"], status=code, body=body)


# Filing an answer twice changes nothing a client can see, so no inbox row is needed.
for _event_type in consumed_by("gateway"):
    handles(_event_type, consumer="gateway", inbox=False)(on_answer)
