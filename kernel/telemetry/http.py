"""The API's telemetry: every request counted and timed by its route, /metrics itself, and each
request's span when tracing is on."""

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse, JsonResponse
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from kernel.telemetry import metrics, tracing
from kernel.web.errors import error_body

PATH = "/metrics"
# Methods are a label: anything else is counted as "other", so no client can add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A route is the URL pattern that matched ("/order/<uuid:order_id>/"), never the path: one
# series per route, however many ids. A request no pattern matched is "unmatched".
UNMATCHED = "unmatched"
_tracer = trace.get_tracer("kernel.web")

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


class RequestSpanMiddleware:
    """The span of one request: the server span of its trace (a child of an incoming W3C
    ``traceparent``, whose decision it follows; otherwise a trace of its own, kept or not by
    the sampler), answered in ``traceresponse``; inside it, the request's SQL and Redis calls
    are traced only if it is kept (:func:`tracing.kept_only`).

    After the probes and /metrics, which it never sees (a kubelet's polling would only hide the
    traffic), and before any middleware that queries or checks the Host: nothing here reads the
    Host through Django's validation, so a probe or a refused Host is answered as with tracing
    off. In a trace left out, nothing is read of the request beyond its ``traceparent``: its
    attributes are set only on a span that is kept. A request that brings no trace while the
    process's budget is spent is left out before the SDK is asked (:func:`tracing.left_out_root`).
    Left out of the chain when tracing is off.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not tracing.enabled():
            raise MiddlewareNotUsed
        from opentelemetry import propagate
        from opentelemetry.instrumentation.propagators import TraceResponsePropagator

        self.get_response = get_response
        self.incoming = propagate.extract  # the configured propagators (W3C unless told)
        # The headers they read, as the WSGI environment names them.
        self.carried = [
            "HTTP_" + name.upper().replace("-", "_")
            for name in propagate.get_global_textmap().fields
        ]
        self.answer = TraceResponsePropagator().inject

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if tracing.out_of_budget() and not any(name in request.META for name in self.carried):
            # A trace of its own, and none left to keep for now: left out before the SDK is
            # asked, which is what most requests under load are (docs/performance.md).
            with tracing.left_out_root(), tracing.kept_only():
                response = self.get_response(request)
                self.answer(response)
                return response
        method = request.method or "_OTHER"
        with _tracer.start_as_current_span(
            method, context=self.incoming(request.headers), kind=SpanKind.SERVER
        ) as span:
            with tracing.kept_only():
                response = self.get_response(request)
            if span.is_recording():
                _describe(span, request, method, response.status_code)
            self.answer(response)
            return response


def _describe(span: trace.Span, request: HttpRequest, method: str, status: int) -> None:
    """A kept request's span: named by its route, with OpenTelemetry's HTTP server attributes
    (semantic conventions, the stable names)."""
    meta = request.META
    route = route_of(request)
    attributes = {
        "http.request.method": method,
        "http.response.status_code": status,
        "url.scheme": request.scheme or "http",
        "url.path": request.path,
        "network.protocol.version": meta.get("SERVER_PROTOCOL", "").removeprefix("HTTP/"),
        "server.address": meta.get("HTTP_HOST") or meta.get("SERVER_NAME", ""),
        "client.address": meta.get("REMOTE_ADDR", ""),
        "user_agent.original": meta.get("HTTP_USER_AGENT", ""),
    }
    if route != UNMATCHED:
        attributes["http.route"] = route
        span.update_name(f"{method} {route}")
    span.set_attributes({key: value for key, value in attributes.items() if value != ""})
    if status >= 500:  # the exception itself is in the log line, which names the trace
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)
