"""A command sent as an event, answered by the event that settles it.

Each kind of operation names the answer events that settle it and how each becomes an HTTP
answer. The request publishes its event, then waits (bounded) on the reply channel; past the
bound it answers 202 with the URL where the outcome can be read.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from gateway import replies
from kernel.events import Envelope, Event
from kernel.outbox import publish

Render = Callable[[Envelope], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Operation:
    kind: str
    answers: dict[str, Render]

    def render(self, envelope: Envelope) -> tuple[int, dict[str, Any]]:
        return self.answers[envelope.type](envelope)

    def settled_by(self, answers: dict[str, Envelope]) -> Envelope | None:
        return next((answers[name] for name in self.answers if name in answers), None)


_OPERATIONS: dict[str, Operation] = {}


def operation(kind: str, answers: dict[str, Render]) -> Operation:
    op = Operation(kind, answers)
    _OPERATIONS[kind] = op
    return op


def operation_for(kind: str) -> Operation | None:
    return _OPERATIONS.get(kind)


def execute(
    op: Operation, *, request: Request, event: Event, user_id: UUID | str | None
) -> Response:
    """Publish ``event`` for this request and answer with its outcome, or 202 if it is late."""
    correlation_id: UUID = request._request.correlation_id
    replies.operation_start(correlation_id=correlation_id, kind=op.kind, user_id=user_id)
    with transaction.atomic():
        publish(event)
    envelope = replies.wait(correlation_id=correlation_id, types=set(op.answers))
    if envelope is None:
        return accepted(request, correlation_id)
    code, body = op.render(envelope)
    return Response(body, status=code)


def accepted(request: Request, correlation_id: UUID) -> Response:
    url = request.build_absolute_uri(reverse("operation-detail", args=[correlation_id]))
    return Response(
        {"status": "pending", "operation": url},
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": url},
    )
