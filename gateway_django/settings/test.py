"""Tests: a Redis database of their own so a running local stack never takes their messages."""

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = PUBLISHED_SECRET_KEYS[1]  # noqa: F405
SIMPLE_JWT["SIGNING_KEY"] = SECRET_KEY  # noqa: F405
# A Redis server of the tests' own (conftest.py starts it), so the fault tests can restart it.
TEST_REDIS_PORT = env.int("TEST_REDIS_PORT", default=6390)
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=f"redis://127.0.0.1:{TEST_REDIS_PORT}/0")
REPLY_REDIS_URL = env("REPLY_REDIS_URL", default=f"redis://127.0.0.1:{TEST_REDIS_PORT}/1")
CACHES["default"]["LOCATION"] = f"redis://127.0.0.1:{TEST_REDIS_PORT}/2"  # noqa: F405
# The tests make many users from one address; the throttling test sets its own rates.
THROTTLE_RATES = {"register": None, "login_ip": None, "login_user": None}
# Fast hashes for the users the tests make; Argon2 ones still check (tests/test_web_server.py).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "kernel.web.hashers.Argon2PasswordHasher",
]
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
OUTBOX_RELAY_INTERVAL = env.float("OUTBOX_RELAY_INTERVAL", default=1.0)
OUTBOX_RELAY_GRACE = env.float("OUTBOX_RELAY_GRACE", default=2.0)
CELERY_BEAT_SCHEDULE["outbox-relay"]["schedule"] = OUTBOX_RELAY_INTERVAL  # noqa: F405
OUTBOX_REDELIVER_AFTER = env.float("OUTBOX_REDELIVER_AFTER", default=3.0)
CELERY_BEAT_SCHEDULE["orders-expire-pending"]["schedule"] = 1.0  # noqa: F405
ORDER_PENDING_TIMEOUT = env.int("ORDER_PENDING_TIMEOUT", default=8)
DELIVERY_BACKOFF_MAX = env.int("DELIVERY_BACKOFF_MAX", default=2)
DELIVERY_MAX_RETRIES = env.int("DELIVERY_MAX_RETRIES", default=3)
GATEWAY_REPLY_TIMEOUT = env.float("GATEWAY_REPLY_TIMEOUT", default=10.0)
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_SEND_SENT_EVENT = False
# A file of spans, one JSON object a line, that the tracing tests read from every process.
TRACING_SPAN_EXPORTER = (
    "tests.spans.FileSpanExporter" if env("TRACING_SPAN_FILE", default="") else ""
)
