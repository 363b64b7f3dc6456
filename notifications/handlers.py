"""What the notifications domain does when it hears an event."""

from kernel.catalog import UserCreated
from kernel.events import Envelope
from kernel.inbox import handles
from notifications.services import welcome_store


@handles(UserCreated, consumer="notifications")
def on_user_created(event: UserCreated, envelope: Envelope) -> None:
    welcome_store(
        user_id=event.user_id,
        username=event.username,
        email=event.email,
        first_name=event.first_name,
    )
