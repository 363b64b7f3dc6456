"""What the users domain does when it hears an event."""

from contracts.catalog import RegistrationRequested
from kernel.messaging.events import Envelope
from kernel.messaging.inbox import handles
from users.services import user_register


@handles(RegistrationRequested, consumer="users")
def on_registration_requested(event: RegistrationRequested, envelope: Envelope) -> None:
    user_register(
        user_id=event.user_id,
        username=event.username,
        email=event.email,
        password_hash=event.password_hash,
        first_name=event.first_name,
        last_name=event.last_name,
    )
