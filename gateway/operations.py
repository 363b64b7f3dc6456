"""A command sent as an event, answered by the event that settles it.

Each kind of operation names the answer events that settle it and how each becomes an HTTP
answer. A request publishes its event (:func:`send`), then waits, bounded, on the reply channel
(:func:`answer`); past the bound it answers 202 with the URL where the outcome can be read.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from gateway import replies
from kernel.messaging.events import Envelope, Event
from kernel.messaging.outbox import publish
from kernel.web.middleware import database_released

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


def correlation_of(request: Request) -> UUID:
    return request._request.correlation_id


def send(op: Operation, *, request: Request, event: Event, user_id: UUID | str | None) -> None:
    """Publish ``event`` for this request (in the caller's transaction, if any)."""
    replies.operation_start(correlation_id=correlation_of(request), kind=op.kind, user_id=user_id)
    publish(event)


def answer(
    op: Operation,
    *,
    request: Request,
    pending: dict[str, Any] | None = None,
    location: str | None = None,
) -> Response:
    """Wait for the answer event of this request and turn it into the response."""
    correlation_id = correlation_of(request)
    with database_released():
        envelope = replies.wait(correlation_id=correlation_id, types=set(op.answers))
    if envelope is None:
        return accepted(request, correlation_id, pending=pending, location=location)
    code, body = op.render(envelope)
    return Response(body, status=code)


def answer_of(
    op: Operation,
    *,
    correlation_id: UUID,
    request: Request,
    pending: dict[str, Any] | None = None,
    location: str | None = None,
) -> Response:
    """The answer of an earlier request (a replay racing its original): read, not waited for."""
    deadline = time.monotonic() + settings.GATEWAY_REPLY_TIMEOUT
    with database_released():
        while time.monotonic() < deadline:
            found = replies.operation_get(correlation_id)
            settled = op.settled_by(found[1]) if found else None
            if settled is not None:
                code, body = op.render(settled)
                return Response(body, status=code)
            time.sleep(0.05)
    return accepted(request, correlation_id, pending=pending, location=location)


def accepted(
    request: Request,
    correlation_id: UUID,
    *,
    pending: dict[str, Any] | None = None,
    location: str | None = None,
) -> Response:
    operation_url = request.build_absolute_uri(reverse("operation-detail", args=[correlation_id]))
    url = request.build_absolute_uri(location) if location else operation_url
    body = {"status": "pending", **(pending or {}), "operation": operation_url}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
