"""The event envelope, the base of every event type and the registry of declared types.

The event types themselves, with who publishes and who consumes each, are declared in the
contracts package (``contracts.catalog``); this module knows none of them. On the wire an event
travels inside an :class:`Envelope` as JSON.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from kernel.money import money_str, parse_money

Money = Annotated[
    Decimal, BeforeValidator(parse_money), PlainSerializer(money_str, return_type=str)
]


class Event(BaseModel):
    """Payload of one event type. Subclasses are registered with :func:`event`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: ClassVar[int] = 1
    publishers: ClassVar[tuple[str, ...]]
    consumers: ClassVar[tuple[str, ...]]
    # Payload fields never shown (admin, logs) and removed from the stored envelope once every
    # consumer has applied the event.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__


class Envelope(BaseModel):
    """What travels on the broker: identity, lineage and the payload of one event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    type: str
    version: int
    occurred_at: datetime
    correlation_id: UUID
    causation_id: UUID | None = None
    payload: dict[str, Any]
    # The W3C trace context (traceparent, tracestate) of the step that published the event, when
    # tracing is on: its consumers' spans join that trace (kernel/telemetry/tracing.py).
    trace: dict[str, str] | None = None


CATALOG: dict[str, type[Event]] = {}

E = TypeVar("E", bound=type[Event])


def declare(
    cls: E, *, publishers: tuple[str, ...], consumers: tuple[str, ...], version: int = 1
) -> E:
    """Register an event type with the domains that publish and consume it: publishing routes
    it to its consumers' queues, consuming finds its model by name."""
    if cls.__name__ in CATALOG:
        raise ValueError(f"{cls.__name__} is declared twice")
    cls.publishers = publishers
    cls.consumers = consumers
    cls.version = version
    CATALOG[cls.__name__] = cls
    return cls


HIDDEN = "[hidden]"


def redacted(message: Any) -> Any:
    """An envelope as it may be shown: the secret fields of its event type hidden."""
    if not isinstance(message, dict) or not isinstance(message.get("payload"), dict):
        return message
    event_type = CATALOG.get(str(message.get("type")))
    secrets = event_type.secret_fields if event_type else ()
    if not secrets:
        return message
    payload = {k: HIDDEN if k in secrets else v for k, v in message["payload"].items()}
    return {**message, "payload": payload}
