"""What became of the events of a saga: each event its publisher wrote, and for each of its
consumers when it applied it, or that it is still to, or gave up on it (a dead letter).

Read from the outbox, the inboxes and the dead letters, joined by correlation id: every event a
request or a timer caused carries that id (``kernel.messaging.context``). The operator's pages
draw it (``kernel/messaging/templates/messaging/sequence.html``).
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from kernel.messaging.events import CATALOG
from kernel.messaging.models import DeadLetter, InboxEvent, OutboxEvent

APPLIED, WAITING, DEAD = "applied", "waiting", "dead-lettered"


@dataclass(frozen=True)
class Delivery:
    consumer: str
    applied_at: datetime | None
    deliveries: int = 0
    dead_letter: DeadLetter | None = None

    @property
    def state(self) -> str:
        if self.applied_at is not None:
            return APPLIED
        return DEAD if self.dead_letter is not None else WAITING


@dataclass(frozen=True)
class TracedEvent:
    id: UUID
    type: str
    occurred_at: datetime
    publisher: str
    payload: dict
    deliveries: list[Delivery] = field(default_factory=list)


def _publisher(event_type: str, cause: str | None) -> str:
    """Who wrote the event: its one publisher, or, when several may publish that type, the one
    that consumes the event that caused it (a handler publishes in the consumer's name)."""
    declared = CATALOG[event_type].publishers if event_type in CATALOG else ("?",)
    if len(declared) > 1 and cause in CATALOG:
        consumers = CATALOG[cause].consumers
        declared = tuple(p for p in declared if p in consumers) or declared
    return declared[0]


def trace(
    *,
    correlation_ids: Iterable[UUID | None],
    event_ids: Iterable[UUID] = (),
    keep: Callable[[dict], bool] = lambda envelope: True,
) -> list[TracedEvent]:
    """The events of these correlation ids, and of the correlation ids of ``event_ids`` (a saga
    that other requests continued: a cancel), in the order they happened; ``keep`` picks among
    them by envelope. Four queries, each on an index (correlation id, inbox key, event id)."""
    correlations = {c for c in correlation_ids if c is not None}
    event_ids = list(event_ids)
    if event_ids:
        correlations |= set(
            OutboxEvent.objects.filter(id__in=event_ids).values_list("correlation_id", flat=True)
        )
    if not correlations:
        return []
    rows = [
        row
        for row in OutboxEvent.objects.filter(correlation_id__in=correlations).order_by(
            "created_at"
        )
        if keep(row.envelope)
    ]
    ids = [row.id for row in rows]
    types = {row.id: row.type for row in rows}
    consumers = {c for row in rows if row.type in CATALOG for c in CATALOG[row.type].consumers}
    applied = {
        (row.consumer, row.event_id): row
        for row in InboxEvent.objects.filter(consumer__in=consumers, event_id__in=ids)
    }
    dead = {
        (letter.consumer, letter.event_id): letter
        for letter in DeadLetter.objects.filter(event_id__in=ids).order_by("created_at")
    }
    traced = []
    for row in rows:
        envelope = row.envelope
        cause = envelope.get("causation_id")
        deliveries = []
        for consumer in CATALOG[row.type].consumers if row.type in CATALOG else ():
            inbox = applied.get((consumer, row.id))
            deliveries.append(
                Delivery(
                    consumer=consumer,
                    applied_at=inbox.received_at if inbox else None,
                    deliveries=inbox.deliveries if inbox else 0,
                    dead_letter=dead.get((consumer, row.id)),
                )
            )
        traced.append(
            TracedEvent(
                id=row.id,
                type=row.type,
                occurred_at=datetime.fromisoformat(envelope["occurred_at"]),
                publisher=_publisher(row.type, types.get(_uuid(cause))),
                payload=envelope.get("payload", {}),
                deliveries=deliveries,
            )
        )
    traced.sort(key=lambda event: event.occurred_at)  # stable: one step's events keep their order
    return traced


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value else None


# --- The drawing: a sequence diagram laid out here, drawn as SVG by a template -------------------

LANE_GAP, MARGIN, TOP, ROW = 150, 80, 56, 40


@dataclass(frozen=True)
class Arrow:
    y: int
    x1: int
    x2: int
    label: str
    note: str
    state: str
    recorded_only: bool = False  # an event nobody consumes: a note on its publisher's lane

    @property
    def label_x(self) -> int:
        return (self.x1 + self.x2) // 2

    @property
    def head(self) -> str:
        """The arrowhead's three points, at x2, pointing away from x1."""
        d = 8 if self.x2 > self.x1 else -8
        return f"{self.x2},{self.y} {self.x2 - d},{self.y - 4} {self.x2 - d},{self.y + 4}"


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    lanes: list[tuple[str, int]]
    rows: list[Arrow]


def _ms(start: datetime, end: datetime) -> str:
    return f"+{(end - start).total_seconds() * 1000:.0f} ms"


def sequence(events: Sequence[TracedEvent], *, lanes: Sequence[str]) -> Diagram:
    """One row per delivery (publisher → consumer), one per event nobody consumes (a note on
    its publisher's lane), in the order of the events; each labelled with its time since the
    first event, and, once applied, how long its consumer took."""
    x = {lane: MARGIN + i * LANE_GAP for i, lane in enumerate(lanes)}
    start = events[0].occurred_at if events else None
    rows = []
    y = TOP + ROW
    for event in events:
        at = _ms(start, event.occurred_at)
        origin = x.get(event.publisher, MARGIN)
        if not event.deliveries:
            rows.append(Arrow(y, origin, origin, event.type, f"{at}, recorded only", APPLIED, True))
            y += ROW
        for delivery in event.deliveries:
            if delivery.state == APPLIED:
                note = f"{at}, applied in {_ms(event.occurred_at, delivery.applied_at)[1:]}"
            elif delivery.state == DEAD:
                note = f"{at}, dead letter: {delivery.dead_letter.reason}"
            else:
                note = f"{at}, not applied yet"
            target = x.get(delivery.consumer, MARGIN)
            rows.append(Arrow(y, origin, target, event.type, note, delivery.state))
            y += ROW
    width = 2 * MARGIN + LANE_GAP * (len(lanes) - 1)
    return Diagram(width, y, [(lane, x[lane]) for lane in lanes], rows)
