"""Log lines: one JSON object per line in production, a readable line in development; each
names the request or the delivery it was written for, and none shows a secret.

Fields a record carries where they exist: ``correlation_id`` (the saga's), ``causation_id``,
``request_id`` (the edge's X-Request-ID), ``consumer``, ``event_id`` and ``event_type`` (the
delivery being applied), the ids the event's payload carries (``order_id``, ``user_id``, ...),
and ``trace_id``/``span_id`` when tracing is on. Every line, whatever wrote it (Django, Celery,
gunicorn, a library), is masked last (:func:`redact`): email addresses keep their first letter and
their domain, and JSON Web Tokens, bearer credentials, password hashes and the values of
password, token, secret, authorization and idempotency-key fields are hidden.

Loaded before Django in gunicorn's master: it imports only the standard library, the
formatter's library and the kernel's message context.
"""

import logging
import logging.config
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from kernel.messaging import context

HIDDEN = "[hidden]"
_MASKS = [
    # JSON Web Tokens (three base64url parts, the header starting '{"').
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[jwt]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), rf"\1 {HIDDEN}"),
    # Django's password hashes: algorithm$...
    (
        re.compile(
            r"\b(argon2|pbkdf2_sha256|pbkdf2_sha1|md5|scrypt|bcrypt_sha256|bcrypt)\$[^\s\"',}]+"
        ),
        rf"\1${HIDDEN}",
    ),
    # name=value, name: value, "name": "value" (quotes escaped or not; a quoted value whole).
    (
        re.compile(
            r"(?i)(password\w*|passwd|secret\w*|\w*token|authorization|idempotency[_-]key)"
            r"(\\?[\"']?\s*[:=]\s*)(\\?[\"'])?"
            r"(?(3)(?:(?!\\?[\"']).)*|[^\"'\s,;&}\\]+)"
        ),
        rf"\1\2\3{HIDDEN}",
    ),
    # Email addresses: the first letter and the domain.
    (
        re.compile(
            r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
        ),
        r"\1***@\2",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


# Fields of the current HTTP request (kernel.web.middleware sets them).
_request_fields: ContextVar[dict[str, str] | None] = ContextVar("log_fields", default=None)


@contextmanager
def request_fields(**fields: str) -> Iterator[None]:
    token = _request_fields.set(fields)
    try:
        yield
    finally:
        _request_fields.reset(token)


def context_fields() -> dict[str, str]:
    """The fields that say what the current code works for."""
    fields: dict[str, str] = {}
    delivery = context.delivery()
    if delivery is not None:
        fields["consumer"] = delivery.consumer
        if delivery.event_id:
            fields["event_id"] = delivery.event_id
        if delivery.event_type:
            fields["event_type"] = delivery.event_type
        if delivery.correlation_id:
            fields["correlation_id"] = delivery.correlation_id
        fields.update(delivery.subjects)
    if (correlation := context.correlation_id()) is not None:
        fields["correlation_id"] = str(correlation)
    if (causation := context.causation_id()) is not None:
        fields["causation_id"] = str(causation)
    fields.update(_request_fields.get() or {})
    from kernel.telemetry import tracing

    fields.update(tracing.log_ids())
    return fields


class ContextFilter(logging.Filter):
    """Adds :func:`context_fields` to every record the handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = context_fields()
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        record.context_keys = tuple(fields)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, the context, and the extras."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*_RESERVED, "context_keys"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class PlainFormatter(logging.Formatter):
    """A readable line: time, level, logger, message, then the context as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        keys = getattr(record, "context_keys", ())
        if keys:
            extra = " ".join(f"{key}={getattr(record, key)}" for key in keys)
            first, newline, rest = line.partition("\n")
            line = f"{first} [{extra}]{newline}{rest}"
        return redact(line)


_RESERVED = [
    *logging.makeLogRecord({}).__dict__.keys(),
    "message",
    "asctime",
    "taskName",
]

FORMATS = {"json": JsonFormatter, "plain": PlainFormatter}


def configure(config: dict) -> None:
    """Django's LOGGING_CONFIG, and Celery's: the configuration, and Python's warnings as log
    records too (a library's warning is a line in the one format, not text on standard error)."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def say_json(message: str, file: Any = None) -> None:
    """Print one line as a JSON log record, without the logging machinery: for what Celery says
    from its signal handlers (its shutdown notices), where taking a handler's lock could hang."""
    record = logging.makeLogRecord({"msg": message, "levelname": "WARNING", "name": "celery"})
    print(JsonFormatter().format(record), file=file or sys.stderr, flush=True)


def default_format() -> str:
    """LOG_FORMAT, else JSON under the production settings and plain lines elsewhere."""
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower()
    if chosen:
        return chosen
    production = os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".production")
    return "json" if production else "plain"


def config(*, log_format: str, level: str, loggers: dict[str, Any] | None = None) -> dict:
    """The logging configuration of every process: one handler on standard error, the context
    filter, the format."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {sorted(FORMATS)}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"default": {"()": FORMATS[log_format]}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # Django's own console handler (on when DEBUG is) would print each of its records a
        # second time, unformatted: they go to the root's handler only.
        "loggers": {
            "django": {"handlers": [], "level": level, "propagate": True},
            **(loggers or {}),
        },
    }
