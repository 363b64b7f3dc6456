import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware

from kernel.messaging.context import message_context
from kernel.telemetry import logs, tracing
from kernel.web.errors import error_body

logger = logging.getLogger(__name__)

HEADER = "X-Correlation-ID"
REQUEST_ID_HEADER = "X-Request-ID"
# What an edge's request id may be (Envoy and ingress-nginx send a UUID or a hex string).
_REQUEST_ID = re.compile(r"[\w.:/+=-]{1,128}")


class CorrelationIdMiddleware:
    """Every request gets a fresh correlation id; every event it causes carries it.

    An incoming ``X-Request-ID`` (the edge's name for the request) is kept beside it, in every
    log line of the request, and answered back; it never becomes the correlation id, which keys
    the request's operation and its reply channel and so is made here, never chosen by a client.
    The trace, not the request id, links the request to the workers' lines.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation = uuid.uuid4()
        request.correlation_id = correlation
        fields = {}
        request_id = request.headers.get(REQUEST_ID_HEADER, "")
        if _REQUEST_ID.fullmatch(request_id):
            fields["request_id"] = request_id
        tracing.annotate(correlation_id=str(correlation), **fields)
        with message_context(correlation=correlation), logs.request_fields(**fields):
            response = self.get_response(request)
            logger.debug("%s %s answered %d", request.method, request.path, response.status_code)
        response[HEADER] = str(correlation)
        if fields:
            response[REQUEST_ID_HEADER] = request_id
        return response


# What a page Django or a plain view made for an error says, in the API's error shape.
_ERRORS = {
    400: ("bad_request", "Bad request."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "No such resource."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("too_large", "The body is too large."),
    500: ("server_error", "Internal error."),
}


class JsonErrorsMiddleware:
    """Every error is answered in the one JSON shape, whatever made it.

    The API's views and the URL configuration's handlers already answer JSON; this catches the
    rest: Django's debug pages (DEBUG turns handler404 and handler500 into HTML pages with the
    traceback, which stays in the log), a plain view's empty 405, a CSRF refusal, a refused
    Host header. Early in the chain: only the probes and /metrics, which answer for themselves,
    and the request's span come before it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        code, message = _ERRORS.get(
            response.status_code, ("error", "The request could not be answered.")
        )
        answer = JsonResponse(error_body(code, message), status=response.status_code)
        for header in ("Allow", "Retry-After", HEADER, REQUEST_ID_HEADER):
            if header in response:
                answer[header] = response[header]
        return answer


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's, adding the missing slash by a redirect to GET and HEAD only.

    A redirected POST arrives as a GET on most clients (and DEBUG makes it a 500): any other
    method on a path without its slash is answered 404, like any unknown path.
    """

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        return request.method in ("GET", "HEAD") and super().should_redirect_with_slash(request)


class BodySizeLimitMiddleware:
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE before anything reads it, and one
    shorter than its Content-Length once read.

    Django checks that limit only when ``request.body`` is read; the API's parsers read the
    stream, so the limit is enforced here, on the declared length, with the JSON error shape.
    The server hands over whatever arrived when a client stops sending mid-body (gunicorn's
    reader returns at end of stream without complaint): such a body is cut, whatever it parses
    as, so it is read here whole and refused. Read once, it also stays readable for a request
    that is run again (:class:`DatabaseFaultMiddleware`).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("bad_request", "Invalid Content-Length."), status=400)
        if limit is not None and length > limit:
            return JsonResponse(
                error_body("too_large", f"The body may be at most {limit} bytes."), status=413
            )
        if length and len(request.body) < length:
            return JsonResponse(
                error_body(
                    "incomplete_body",
                    f"The body ended before the {length} bytes its Content-Length announced.",
                ),
                status=400,
            )
        return self.get_response(request)


_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()
_held = threading.local()


def _semaphore() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.WEB_DATABASE_SLOTS)
        return _slots


class DatabaseSlotsMiddleware:
    """A request holds one of WEB_DATABASE_SLOTS slots while it runs and gives it back, with its
    database connection, while it only waits (the gateway waiting for an answer event).

    So an API process can keep hundreds of requests waiting on their sagas in as many threads,
    while PostgreSQL sees at most WEB_DATABASE_SLOTS sessions from it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _semaphore().acquire(timeout=settings.WEB_DATABASE_SLOT_WAIT):
            return JsonResponse(error_body("busy", "The server is busy; try again."), status=503)
        _held.slot = True
        try:
            return self.get_response(request)
        finally:
            if getattr(_held, "slot", False):
                _held.slot = False
                _semaphore().release()


@contextmanager
def database_released() -> Iterator[None]:
    """Give the request's database slot and connection back while it waits for something else."""
    if not getattr(_held, "slot", False) or connection.in_atomic_block:
        yield
        return
    connection.close()
    _held.slot = False
    _semaphore().release()
    try:
        yield
    finally:
        if _semaphore().acquire(timeout=settings.WEB_DATABASE_SLOT_WAIT):
            _held.slot = True
        else:
            logger.warning("no database slot after waiting; going on without one")


# Statements that change something (Django's ORM and the kernel's SQL; the API runs no others).
_WRITES = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|MERGE|COPY|CREATE|ALTER|DROP|TRUNCATE)\b", re.I)


class _Writes:
    """Whether a request may have changed the database: a write outside a transaction, or a
    commit asked for after a write inside one (a commit that fails may still have happened).
    A write in a transaction that never reached its commit was rolled back with the
    connection that died."""

    def __init__(self) -> None:
        self.autocommitted = False
        self.commits_at_first_write: int | None = None

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        if _WRITES.match(sql):
            db = context["connection"]
            if not db.in_atomic_block:
                self.autocommitted = True
            elif self.commits_at_first_write is None:
                self.commits_at_first_write = db.commit_attempts
        return execute(sql, params, many, context)

    def happened(self) -> bool:
        first = self.commits_at_first_write
        return self.autocommitted or (first is not None and connection.commit_attempts > first)


# SQLSTATEs of a session the server ended: admin_shutdown (pg_terminate_backend, a fast
# shutdown), crash_shutdown, cannot_connect_now; class 08 is connection exceptions.
_SESSION_ENDED = ("57P01", "57P02", "57P03", "08")


def _connection_lost(exc: Exception) -> bool:
    """Whether ``exc`` says the database connection is gone (not that a statement failed).

    Told from the error itself: by the time a view's exception arrives here, Django may
    already have dropped the broken connection and opened another.
    """
    if isinstance(exc, InterfaceError):  # "connection already closed"
        return True
    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.__cause__, "pgcode", None)
    # No SQLSTATE: the socket closed or could not be opened, before the server said anything.
    return code is None or code.startswith(_SESSION_ENDED)


class DatabaseFaultMiddleware:
    """A request whose PostgreSQL connection died under it (a restart, a failover, a backend
    terminated) is run again on a new connection if it had written nothing yet; otherwise, or
    when the database is still unreachable, it is answered 503 with Retry-After, so a client
    can tell an outage from a bug (a 500).
    """

    ATTEMPTS = 3
    RETRY_AFTER = 1  # seconds

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for attempt in range(1, self.ATTEMPTS + 1):
            writes = _Writes()
            request.database_fault = None
            with connection.execute_wrapper(writes):
                response = self.get_response(request)
            fault = request.database_fault
            if fault is None:
                return response
            # Its siblings in the pool were most likely ended by the same cause.
            connection.close()
            connection.pool_clear()
            if writes.happened():
                logger.warning("database connection lost after a write: answered 503 (%s)", fault)
                return response
            logger.warning(
                "database connection lost before any write (attempt %d): %s", attempt, fault
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _connection_lost(exception):
            return None
        request.database_fault = exception
        response = JsonResponse(
            error_body("database_unavailable", "The database did not answer; try again shortly."),
            status=503,
        )
        response["Retry-After"] = str(self.RETRY_AFTER)
        return response
