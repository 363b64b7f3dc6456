"""What a log line may show, and the fields that say what it was written for."""

import json
import logging
import uuid

import pytest

from kernel.messaging.context import delivery_context, message_context
from kernel.telemetry import logs


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("welcome ada.lovelace@example.com", "ada.lovelace@example.com", "a***@example.com"),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl",
            "eyJhbGciOiJIUzI1NiJ9",
            "Authorization: [hidden]",
        ),
        ("refresh eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2ln", "eyJ1c2VyX2lkIjoxfQ", "[jwt]"),
        ("{'password': 'correct horse'}", "correct", "'password': '[hidden]'"),
        ('{"password_hash": "argon2$argon2id$v=19$m=1$abc"}', "argon2id", "[hidden]"),
        ("pbkdf2_sha256$870000$salt$hash stored", "870000$salt", "pbkdf2_sha256$[hidden]"),
        ("HTTP_IDEMPOTENCY_KEY=order-key-1", "order-key-1", "[hidden]"),
        ("Idempotency-Key: order-key-2", "order-key-2", "[hidden]"),
        ('{\\"access_token\\": \\"abc123\\"}', "abc123", "[hidden]"),
    ],
)
def test_secrets_and_addresses_are_masked(text, hidden, kept):
    masked = logs.redact(text)
    assert hidden not in masked
    assert kept in masked


def test_what_is_no_secret_is_left_as_it_is():
    text = "orders: OrderRequested 1a2e58c5-9aae-4845-9fca-cbad3fde4c13 on billing@worker-1"
    assert logs.redact(text) == text


def _line(formatter: logging.Formatter, message: str, *args: object) -> str:
    record = logging.LogRecord("orders", logging.INFO, __file__, 1, message, args, None)
    logs.ContextFilter().filter(record)
    return formatter.format(record)


def test_a_json_line_names_the_delivery_and_masks_what_it_says():
    event_id, correlation, order_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    message = {
        "id": str(event_id),
        "type": "OrderRequested",
        "correlation_id": str(correlation),
        "payload": {"order_id": str(order_id), "price": "1.00"},
    }
    with (
        delivery_context("orders", message),
        message_context(correlation=correlation, causation=event_id),
    ):
        line = _line(logs.JsonFormatter(), "applied for %s", "bob@example.org")

    record = json.loads(line)
    assert record["message"] == "applied for b***@example.org"
    assert record["consumer"] == "orders"
    assert record["event_type"] == "OrderRequested"
    assert record["event_id"] == str(event_id)
    assert record["correlation_id"] == str(correlation)
    assert record["causation_id"] == str(event_id)
    assert record["order_id"] == str(order_id)
    assert "price" not in record
    assert {"time", "level", "logger"} <= set(record)


def test_a_malformed_message_still_names_its_consumer():
    with delivery_context("billing", "not an envelope"):
        record = json.loads(_line(logs.JsonFormatter(), "poison"))
    assert record["consumer"] == "billing" and "event_id" not in record


def test_a_plain_line_ends_with_its_context():
    with logs.request_fields(request_id="edge-1"):
        line = _line(logs.PlainFormatter(), "hello")
    assert line.endswith("orders hello [request_id=edge-1]")


def test_outside_any_request_or_delivery_a_line_has_no_context_fields():
    record = json.loads(_line(logs.JsonFormatter(), "beat tick"))
    assert set(record) == {"time", "level", "logger", "message"}


def test_the_format_is_json_under_the_production_settings_only(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "gateway_django.settings.production")
    assert logs.default_format() == "json"
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "gateway_django.settings.local")
    assert logs.default_format() == "plain"
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert logs.default_format() == "json"
    with pytest.raises(ValueError):
        logs.config(log_format="xml", level="INFO")
