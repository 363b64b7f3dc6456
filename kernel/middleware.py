import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from kernel.context import message_context
from kernel.errors import error_body

HEADER = "X-Correlation-ID"


class CorrelationIdMiddleware:
    """Every request gets a fresh correlation id; every event it causes carries it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation = uuid.uuid4()
        request.correlation_id = correlation
        with message_context(correlation=correlation):
            response = self.get_response(request)
        response[HEADER] = str(correlation)
        return response


class BodySizeLimitMiddleware:
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE before anything reads it, and one
    shorter than its Content-Length once read.

    Django checks that limit only when ``request.body`` is read; the API's parsers read the
    stream, so the limit is enforced here, on the declared length, with the JSON error shape.
    The server hands over whatever arrived when a client stops sending mid-body (gunicorn's
    reader returns at end of stream without complaint): such a body is cut, whatever it parses
    as, so it is read here whole and refused.
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


logger = logging.getLogger(__name__)
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
