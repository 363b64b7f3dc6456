"""The API's metrics: every request counted and timed by its route, and /metrics itself."""

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from kernel.telemetry import metrics
from kernel.web.errors import error_body

PATH = "/metrics"
# Methods are a label: anything else is counted as "other", so no client can add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A route is the URL pattern that matched ("/order/<uuid:order_id>/"), never the path: one
# series per route, however many ids. A request no pattern matched is "unmatched".
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "http_requests",
    "Requests the API answered, by method, route (the URL pattern) and status.",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, including the wait for its answer event, by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 30),
)


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return "/" + match.route if match is not None else UNMATCHED


class MetricsMiddleware:
    """Answers /metrics ahead of the host check and the database slots (a scrape needs neither,
    and a busy process must still be seen), and times every other request.

    Second in the chain, after the probes, which are not counted: a kubelet's polling would
    only hide the traffic.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.METRICS_ENABLED:
            return self.get_response(request)
        if request.path_info == PATH:
            return exposition(request)
        start = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        route = route_of(request)
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        DURATION.labels(method, route).observe(time.perf_counter() - start)
        return response


def exposition(request: HttpRequest) -> HttpResponse:
    """Every API process's metrics of this pod (their files are added up)."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(error_body("method_not_allowed", "Method not allowed."), status=405)
        response["Allow"] = "GET, HEAD"
        return response
    token = settings.METRICS_TOKEN
    if token and not hmac.compare_digest(
        request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode()
    ):
        response = JsonResponse(
            error_body("not_authenticated", "/metrics needs its bearer token."), status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
