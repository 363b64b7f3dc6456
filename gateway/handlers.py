"""The gateway consumes answer events only to hand them to the HTTP request that waits for them.

Every event the catalog addresses to the gateway is such an answer, so all share one handler.
"""

from gateway import replies
from kernel.catalog import consumed_by
from kernel.events import Envelope, Event
from kernel.inbox import handles


def on_answer(event: Event, envelope: Envelope) -> None:
    replies.answer(envelope)


# Filing an answer twice changes nothing a client can see, so no inbox row is needed.
for _event_type in consumed_by("gateway"):
    handles(_event_type, consumer="gateway", inbox=False)(on_answer)
