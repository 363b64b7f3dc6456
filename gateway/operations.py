"""A command sent as an event, answered by the event that settles it.

Each kind of operation names the answer events that settle it and how each becomes an HTTP
answer. A request records its operation and publishes its event in one transaction (:func:`send`),
then waits, bounded, to be woken with the answer (:func:`answer`); past the bound it answers 202
with the URL where the outcome can be read. The gateway's worker keeps every answer on the
operation (:func:`settle`), whether or not anybody still waits.
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
from gateway.services import operation_get, operation_settle, operation_start
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


_OPERATIONS: dict[str, Operation] = {}
_ANSWERED_BY: dict[str, Operation] = {}


def operation(kind: str, answers: dict[str, Render]) -> Operation:
    op = Operation(kind, answers)
    _OPERATIONS[kind] = op
    for event_type in answers:
        if event_type in _ANSWERED_BY:
            raise ValueError(f"{event_type} already answers {_ANSWERED_BY[event_type].kind}")
        _ANSWERED_BY[event_type] = op
    return op


def operation_for(kind: str) -> Operation | None:
    return _OPERATIONS.get(kind)


def correlation_of(request: Request) -> UUID:
    """The request's correlation id (``kernel.web.middleware.CorrelationIdMiddleware``): the
    operation's id, and that of every event the request causes."""
    return request._request.correlation_id


def send(op: Operation, *, request: Request, event: Event, user_id: UUID | str | None) -> None:
    """Record the operation and publish ``event`` for this request, in the caller's transaction."""
    operation_start(correlation_id=correlation_of(request), kind=op.kind, user_id=user_id)
    publish(event)


def settle(envelope: Envelope) -> None:
    """The gateway's worker: keep the answer an event gives its operation, then wake the request
    that may wait for it."""
    op = _ANSWERED_BY[envelope.type]
    code, body = op.render(envelope)
    operation_settle(correlation_id=envelope.correlation_id, kind=op.kind, status=code, body=body)
    replies.wake(envelope)


def answer(
    op: Operation,
    *,
    request: Request,
    pending: dict[str, Any] | None = None,
    location: str | None = None,
    operation: str | None = None,
) -> Response:
    """Wait to be woken with the answer event of this request and turn it into the response."""
    correlation_id = correlation_of(request)
    with database_released():
        envelope = replies.wait(correlation_id=correlation_id, types=set(op.answers))
    if envelope is None:
        return accepted(
            request, correlation_id, pending=pending, location=location, operation=operation
        )
    code, body = op.render(envelope)
    return Response(body, status=code)


def answer_of(
    *,
    correlation_id: UUID,
    request: Request,
    pending: dict[str, Any] | None = None,
    location: str | None = None,
) -> Response:
    """The answer of an earlier request (a repeat racing its original): read from the operation,
    looked at again until it is settled or the reply timeout has passed."""
    deadline = time.monotonic() + settings.GATEWAY_REPLY_TIMEOUT
    while True:
        found = operation_get(correlation_id=correlation_id)
        if found is not None and found.settled_at is not None:
            return Response(found.body, status=found.status_code)
        if time.monotonic() >= deadline:
            return accepted(request, correlation_id, pending=pending, location=location)
        with database_released():  # no connection held while nothing happens
            time.sleep(0.1)


def accepted(
    request: Request,
    correlation_id: UUID,
    *,
    pending: dict[str, Any] | None = None,
    location: str | None = None,
    operation: str | None = None,
) -> Response:
    """A 202: where the outcome will be (``Location``), and ``operation``, where the client reads
    it: /operation/{id}/ unless the request has a status URL of its own (a registration)."""
    operation_url = request.build_absolute_uri(
        operation or reverse("operation-detail", args=[correlation_id])
    )
    url = request.build_absolute_uri(location) if location else operation_url
    body = {"status": "pending", **(pending or {}), "operation": operation_url}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
