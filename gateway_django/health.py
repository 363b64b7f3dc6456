"""Probes: liveness says the process answers; readiness says every service it needs answers
too: PostgreSQL, the broker, the Redis of the reply channel and the Redis of the cache."""

from collections.abc import Callable

import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from kernel.web.errors import error_body


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)


def _ping(*urls: str) -> None:
    for url in urls:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()


def _reply_redis() -> None:
    """Where the gateway's worker wakes the requests that wait for an answer."""
    _ping(settings.REPLY_REDIS_URL)


def _cache_redis() -> None:
    """The throttles' counters: every server the cache is configured with."""
    cache = settings.CACHES["default"]
    if cache["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return
    location = cache["LOCATION"]
    _ping(*(location.split(",") if isinstance(location, str) else location))


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "broker": _broker,
    "reply_redis": _reply_redis,
    "cache_redis": _cache_redis,
}


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class ProbeMiddleware:
    """Answers the probes ahead of every other middleware.

    So a probe is never refused for its Host header (a kubelet sends the pod's IP, which the
    production ALLOWED_HOSTS does not list), never waits in the database-slot queue (a process
    busy with many requests is alive), and runs nothing else of the request's path.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                error_body("method_not_allowed", "Method not allowed."), status=405
            )
            response["Allow"] = "GET, HEAD"
            return response
        return probe(request)
