import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from kernel.context import message_context

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
