import uuid
from collections.abc import Callable

from django.conf import settings
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
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE before anything reads it.

    Django checks that limit only when ``request.body`` is read; the API's parsers read the
    stream, so the limit is enforced here, on the declared length, with the JSON error shape.
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
        return self.get_response(request)
