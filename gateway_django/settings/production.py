"""Production: no default for any secret; refuses to start without them."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import PUBLISHED_SECRET_KEYS, SIMPLE_JWT, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters long.")
SIMPLE_JWT.update(jwt_keys_from_env(SECRET_KEY))  # noqa: F405
# Log lines are JSON objects here unless LOG_FORMAT says otherwise (base.py, LOG_FORMAT).
if {SECRET_KEY, SIMPLE_JWT["SIGNING_KEY"]} & set(PUBLISHED_SECRET_KEYS):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY or JWT_SIGNING_KEY is a development secret published in the "
        "repository; set secrets of your own."
    )
# An HMAC key shorter than the hash's output weakens the signature (RFC 7518, section 3.2).
_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_least = _HMAC_KEY_BYTES.get(SIMPLE_JWT["ALGORITHM"], 0)
if len(SIMPLE_JWT["SIGNING_KEY"].encode()) < _least:
    raise ImproperlyConfigured(
        f"JWT_SIGNING_KEY must be at least {_least} bytes long for {SIMPLE_JWT['ALGORITHM']}."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
