"""Settings shared by every environment; everything that differs comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import schedule
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from contracts.domains import DOMAINS
from kernel.telemetry import logs

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file is for a checkout; an image or a pod is configured by its environment alone, and
# must not warn on every start that the file is missing.
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
# The secrets of local development and of the tests: published in this repository, so no
# secret anywhere else (production settings refuse them).
PUBLISHED_SECRET_KEYS = (
    "local-development-only-not-a-secret-0123456789",
    "test-only-not-a-secret-0123456789abcdef",
)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc, served with the other static files
    "contracts",
    "kernel.telemetry",  # first of the project's: tracing starts before any connection opens
    "kernel.messaging",
    *DOMAINS,
]

MIDDLEWARE = [
    "gateway_django.health.ProbeMiddleware",  # first: before host checks and database slots
    "kernel.telemetry.http.MetricsMiddleware",  # /metrics likewise; times the rest by route
    "kernel.telemetry.http.RequestSpanMiddleware",  # its span; SQL and Redis only if kept
    "kernel.web.middleware.JsonErrorsMiddleware",  # every other error in the one JSON shape
    "kernel.web.middleware.BodySizeLimitMiddleware",
    "kernel.web.middleware.DatabaseSlotsMiddleware",
    "kernel.web.middleware.DatabaseFaultMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "kernel.web.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kernel.web.middleware.CorrelationIdMiddleware",
]

ROOT_URLCONF = "gateway_django.urls"
WSGI_APPLICATION = "gateway_django.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "gateway_django" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/order_platform"),
}
# Keep connections between requests and tasks; a broken one is noticed before it is used.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The stock PostgreSQL backend, plus a per-process pool of idle connections when
# DATABASE_POOL_SIZE > 0: the API processes use one (see kernel/postgres/base.py), the workers
# keep their connection per process (CONN_MAX_AGE, CELERY_DB_REUSE_MAX).
DATABASES["default"]["ENGINE"] = "kernel.web.postgres"
DATABASES["default"].setdefault("OPTIONS", {})["pool_size"] = env.int(
    "DATABASE_POOL_SIZE", default=0
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "users.User"
# Argon2 first: memory-hard, and a tenth of PBKDF2's CPU per login here; older hashes still check.
# The project's Argon2 hasher is Django's, computed off the API process's event loop.
PASSWORD_HASHERS = [
    "kernel.web.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Hashes an API process computes at once, each in a thread of its own (kernel/hashers.py).
PASSWORD_HASHING_THREADS = env.int("PASSWORD_HASHING_THREADS", default=2)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # The JWT alone identifies the caller: no view but the users domain's reads the users table.
    # A user deactivated since the token was issued is refused (gateway/access.py).
    "DEFAULT_AUTHENTICATION_CLASSES": ["gateway.access.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["kernel.web.api.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "kernel.web.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "kernel.web.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "kernel.web.api.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}


def jwt_keys(
    algorithm: str, *, secret_key: str, signing_key: str = "", private_key: str = ""
) -> dict[str, str]:
    """SIMPLE_JWT's keys for ``algorithm``.

    HS256 (the default) signs and verifies with one secret: JWT_SIGNING_KEY, else the Django
    secret key. An asymmetric algorithm (RS256) signs with the PEM private key and verifies with
    its public key, which /.well-known/jwks.json publishes, so that an edge (Istio's
    RequestAuthentication) can check a token without holding any secret.
    """
    if algorithm.startswith("HS"):
        return {"ALGORITHM": algorithm, "SIGNING_KEY": signing_key or secret_key}
    if not private_key:
        raise ImproperlyConfigured(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY (PEM).")
    from cryptography.hazmat.primitives import serialization

    pem = private_key.replace("\\n", "\n").strip() + "\n"  # one-line values from .env files
    public = serialization.load_pem_private_key(pem.encode(), password=None).public_key()
    return {
        "ALGORITHM": algorithm,
        "SIGNING_KEY": pem,
        "VERIFYING_KEY": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    }


def jwt_keys_from_env(secret_key: str) -> dict[str, str]:
    return jwt_keys(
        env("JWT_ALGORITHM", default="HS256"),
        secret_key=secret_key,
        signing_key=env("JWT_SIGNING_KEY", default=""),
        private_key=env("JWT_PRIVATE_KEY", default=""),
    )


SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    **jwt_keys_from_env(SECRET_KEY),
    # An edge that verifies tokens matches their issuer (empty: no "iss" claim).
    "ISSUER": env("JWT_ISSUER", default="") or None,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Order platform API",
    "DESCRIPTION": "A gateway and four domains (users, billing, orders, notifications) "
    "that collaborate through events.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs' pages load their scripts from this service, not from a CDN: they work offline
    # and in a cluster that reaches nothing outside.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "kernel.web.errors.document_errors",
    ],
}
# Brute force on login and register meets 429 (rates: N/second|minute|hour|day; empty: none).
THROTTLE_RATES = {
    "register": env("THROTTLE_REGISTER", default="30/minute") or None,
    "login_ip": env("THROTTLE_LOGIN_IP", default="60/minute") or None,
    "login_user": env("THROTTLE_LOGIN_USER", default="10/minute") or None,
}
# Client addresses are taken from X-Forwarded-For behind this many proxies (0: the socket's).
REST_FRAMEWORK["NUM_PROXIES"] = env.int("NUM_PROXIES", default=0)
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)
# Throttle counters, shared by every API process.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default="redis://127.0.0.1:6379/2"),
        "KEY_PREFIX": "op",
    }
}
# Requests larger than this are refused before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024)

# --- Messaging -------------------------------------------------------------------------------
DOMAIN_QUEUES = DOMAINS  # one queue, and one worker, per domain

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_TRANSPORT = (
    "kernel.messaging.broker:Transport"  # Redis, with a reconnect fault contained
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message not acknowledged within this time is delivered again: every countdown and
    # every task must stay well under it.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "gateway"
CELERY_TASK_QUEUES = [Queue(name) for name in DOMAIN_QUEUES]
# Tasks that are not deliveries (a domain's housekeeping, a letter's sending and retries) run
# on their domain's queue, routed by their names: Celery deprecates a task's own `queue`.
CELERY_TASK_ROUTES = {
    "gateway.*": {"queue": "gateway"},
    "orders.*": {"queue": "orders"},
    "notifications.*": {"queue": "notifications"},
}
# Task modules beyond the project's own, loaded by every worker: the benchmark's stack sets
# bench.echo; nothing else needs any.
CELERY_IMPORTS = env.list("CELERY_IMPORTS", default=[])
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task events feed Flower's task list and cost about a quarter of a no-op task's worker time
# (measured, docs/performance.md): on in development, off by default elsewhere, where Flower
# does not turn them on either (gateway_django/flower.py); `celery control enable_events`
# turns them on for a while.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=False)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS
# Celery's Django integration closes the database connection around every task unless told
# to reuse it: one new PostgreSQL session per task costs two thirds of the throughput.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

OUTBOX_RELAY_INTERVAL = env.float("OUTBOX_RELAY_INTERVAL", default=5.0)
# A row younger than this is still being dispatched by the process that wrote it.
OUTBOX_RELAY_GRACE = env.float("OUTBOX_RELAY_GRACE", default=10.0)
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=500)
# An event a consumer has not applied this long after it was sent is sent to it again (the
# broker lost it), then after twice as long, and so on, at most OUTBOX_MAX_REDELIVERIES times.
OUTBOX_REDELIVER_AFTER = env.float("OUTBOX_REDELIVER_AFTER", default=30.0)
OUTBOX_MAX_REDELIVERIES = env.int("OUTBOX_MAX_REDELIVERIES", default=8)
MESSAGING_RETENTION_DAYS = env.int("MESSAGING_RETENTION_DAYS", default=7)
# A letter still pending this long after it was stored is sent by beat's sweep (a worker died
# between storing and sending it).
NOTIFICATION_STALE_AFTER = env.float("NOTIFICATION_STALE_AFTER", default=120.0)
# Retries of a failing handler: exponential backoff from 1 s, capped, then a dead letter.
DELIVERY_MAX_RETRIES = env.int("DELIVERY_MAX_RETRIES", default=6)
# Database or Redis unreachable: retried for longer (about an hour at the capped backoff).
DELIVERY_MAX_TRANSIENT_RETRIES = env.int("DELIVERY_MAX_TRANSIENT_RETRIES", default=60)
DELIVERY_BACKOFF_MAX = env.int("DELIVERY_BACKOFF_MAX", default=60)

CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {
        "task": "kernel.relay_outbox",
        "schedule": schedule(OUTBOX_RELAY_INTERVAL),
        "options": {"queue": "gateway", "expires": OUTBOX_RELAY_INTERVAL * 2},
    },
    "orders-expire-pending": {
        "task": "orders.expire_pending",
        "schedule": schedule(env.float("ORDER_EXPIRY_INTERVAL", default=5.0)),
        "options": {"queue": "orders", "expires": 10},
    },
    "idempotency-keys-expire": {
        "task": "gateway.expire_idempotency_keys",
        "schedule": schedule(3600.0),
        "options": {"queue": "gateway", "expires": 3600},
    },
    "operations-expire": {
        "task": "gateway.expire_operations",
        "schedule": schedule(3600.0),
        "options": {"queue": "gateway", "expires": 3600},
    },
    "access-revocations-expire": {
        "task": "gateway.expire_access_revocations",
        "schedule": schedule(3600.0),
        "options": {"queue": "gateway", "expires": 3600},
    },
    "notifications-resend-stale": {
        "task": "notifications.resend_stale",
        "schedule": schedule(60.0),
        "options": {"queue": "notifications", "expires": 60},
    },
    "messaging-purge": {
        "task": "kernel.purge_messages",
        "schedule": schedule(3600.0),
        "options": {"queue": "gateway", "expires": 3600},
    },
}

# --- Gateway ----------------------------------------------------------------------------------
# Requests of one API process using the database at the same time; the others wait for a slot
# (at most WEB_DATABASE_SLOT_WAIT seconds, then 503). Waiting for an answer event needs none.
WEB_DATABASE_SLOTS = env.int("WEB_DATABASE_SLOTS", default=24)
WEB_DATABASE_SLOT_WAIT = env.float("WEB_DATABASE_SLOT_WAIT", default=10.0)
# Where the gateway worker leaves answers for the HTTP request that waits on them.
REPLY_REDIS_URL = env("REPLY_REDIS_URL", default="redis://127.0.0.1:6379/1")
# How long a request waits for its answer event before it is answered 202.
GATEWAY_REPLY_TIMEOUT = env.float("GATEWAY_REPLY_TIMEOUT", default=5.0)
# How long the outcome of an accepted request stays readable at /operation/<id>/.
GATEWAY_OPERATION_TTL = env.int("GATEWAY_OPERATION_TTL", default=24 * 3600)

# Idempotency keys of POST /order/ are kept this long; a key used again later is a new request.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)

# --- Orders -----------------------------------------------------------------------------------
# An order whose payment has not answered after this many seconds is rejected (reason timeout);
# a debit arriving after that is refunded.
ORDER_PENDING_TIMEOUT = env.int("ORDER_PENDING_TIMEOUT", default=60)

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="orders@example.com")

# --- Probes -----------------------------------------------------------------------------------
# A worker or beat touches this file while its loop runs (kernel/heartbeat.py); empty: no file.
HEARTBEAT_FILE = env("HEARTBEAT_FILE", default="")
CELERY_BEAT_SCHEDULER = "gateway_django.celery:HeartbeatScheduler"

# --- Metrics ----------------------------------------------------------------------------------
# Prometheus metrics (kernel/telemetry): the API at /metrics, a worker or beat on METRICS_PORT
# (0: no endpoint). Off, nothing is counted and /metrics is not served.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_PORT = env.int("METRICS_PORT", default=0)
METRICS_ADDRESS = env("METRICS_ADDRESS", default="127.0.0.1")
# When set, the API's /metrics answers only a request with "Authorization: Bearer <token>":
# the API's port is also the one the Ingress publishes.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# --- Logging and tracing ------------------------------------------------------------------
# One JSON object per line under the production settings, a readable line elsewhere
# (LOG_FORMAT=json|plain overrides); every process, Celery's and gunicorn's included, writes
# through this configuration (kernel/telemetry/logs.py).
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = logs.default_format()
LOGGING = logs.config(log_format=LOG_FORMAT, level=LOG_LEVEL)
LOGGING_CONFIG = "kernel.telemetry.logs.configure"
# Traces go to OTEL_EXPORTER_OTLP_ENDPOINT when it is set (kernel/telemetry/tracing.py); this
# names another span exporter class instead (the tests' file of spans); both empty: no tracing.
TRACING_SPAN_EXPORTER = ""
