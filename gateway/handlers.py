"""The gateway consumes answer events only to hand them to the HTTP request that waits for them."""

from gateway import replies
from kernel.catalog import (
    RegistrationRejected,
    TransactionCreated,
    TransactionRejected,
    UserCreated,
)
from kernel.events import Envelope
from kernel.inbox import handles


# Filing an answer twice changes nothing a client can see, so no inbox row is needed.
@handles(UserCreated, consumer="gateway", inbox=False)
@handles(RegistrationRejected, consumer="gateway", inbox=False)
@handles(TransactionCreated, consumer="gateway", inbox=False)
@handles(TransactionRejected, consumer="gateway", inbox=False)
def on_answer(event: object, envelope: Envelope) -> None:
    replies.answer(envelope)
