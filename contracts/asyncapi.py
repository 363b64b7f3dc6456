"""The event catalog as an AsyncAPI 3 document, made from the code so it cannot drift from it.

One channel per domain queue, carrying the events delivered to that domain; one message per
event (its payload's JSON schema, the envelope's fields as headers); one ``send`` operation per
publisher, event and consuming queue, one ``receive`` operation per registered handler. It is
committed as ``docs/asyncapi.yaml`` (``python manage.py asyncapi``) and served at
``/api/asyncapi/``.
"""

from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from kernel.messaging.events import CATALOG, Envelope, Event
from kernel.messaging.inbox import Handler, registered
from kernel.messaging.outbox import DELIVER_TASK

VERSION = "3.0.0"
SERVER = "redis"
HEADERS = "EnvelopeHeaders"
# What publishers write: money_str's two places, at most ten digits before the point (all that
# parse_money lets into an event).
MONEY_PATTERN = r"^\d{1,10}\.\d{2}$"

WIRE = (
    f"Every message is one Celery task `{DELIVER_TASK}` (JSON serialisation, Celery's message "
    "protocol 2) whose positional arguments are `[consumer, envelope]`: `consumer` is the "
    "name of the queue's domain, `envelope` one JSON object holding the headers documented "
    "here (`id`, `type`, `version`, `occurred_at`, `correlation_id`, `causation_id`, `trace`) "
    "and the "
    "event's fields under `payload`. The publisher writes the envelope to its outbox in the "
    "transaction of the change it reports and sends one task per consuming domain after "
    "commit; a consumer applies each event once (its inbox) "
    "and retries, then dead-letters, what fails."
)


class _Schema(GenerateJsonSchema):
    """pydantic's JSON schema, with money as the string publishers write.

    Every Decimal of an event is ``Money``; pydantic describes it as what it accepts (a number
    or any string), not as what travels.
    """

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> dict[str, Any]:
        return {"type": "string", "pattern": MONEY_PATTERN, "examples": ["12.50"]}


def _ref(*parts: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(parts)}


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _headers() -> dict[str, Any]:
    """The envelope's fields but its payload, as pydantic describes them."""
    schema = Envelope.model_json_schema()
    schema["properties"].pop("payload")
    schema["required"].remove("payload")
    schema["title"] = "Envelope headers"
    schema["description"] = (
        "The envelope of every event but its payload. `correlation_id` is the request's, "
        "carried by every event it leads to; `causation_id` names the event whose handler "
        "published this one (null when a request did); `trace` is the W3C trace context "
        "(`traceparent`, `tracestate`) of the step that published it, so that its consumers' "
        "spans join that trace (null when tracing is off)."
    )
    return schema


def _payload(event_type: type[Event], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = event_type.model_json_schema(
        ref_template="#/components/schemas/{model}", schema_generator=_Schema
    )
    schemas.update(schema.pop("$defs", {}))
    return schema


def _message(name: str, event_type: type[Event], handlers: dict) -> dict[str, Any]:
    consumers = event_type.consumers
    route = (
        f"Delivered to {', '.join(consumers)}."
        if consumers
        else "Consumed by no domain: recorded in the publisher's outbox only, sent to no queue."
    )
    return {
        "name": name,
        "title": name,
        "summary": _one_line(event_type.__doc__),
        "description": (
            f"Version {event_type.version}, published by {', '.join(event_type.publishers)}. "
            f"{route}"
        ),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "allOf": [
                _ref("components", "schemas", HEADERS),
                {
                    "properties": {
                        "type": {"const": name},
                        "version": {"const": event_type.version},
                    }
                },
            ],
        },
        "payload": _ref("components", "schemas", name),
        "correlationId": _ref("components", "correlationIds", "correlation"),
        "x-publishers": list(event_type.publishers),
        "x-consumers": [
            {"domain": consumer, "handler": _handler_name(handlers.get((consumer, name)))}
            for consumer in consumers
        ],
    }


def _handler_name(handler: Handler | None) -> str | None:
    return f"{handler.func.__module__}.{handler.func.__qualname__}" if handler else None


def _channel(queue: str) -> dict[str, Any]:
    messages = {
        name: _ref("components", "messages", name)
        for name, event_type in CATALOG.items()
        if queue in event_type.consumers
    }
    return {
        "address": queue,
        "title": f"{queue} queue",
        "description": (
            f"The Redis list `{queue}` that the {queue} domain's worker consumes: the events "
            f"delivered to {queue}, each as one `{DELIVER_TASK}` task with consumer "
            f'`"{queue}"`. The domain\'s own scheduled tasks share the queue and are not part '
            "of this contract."
        ),
        "servers": [_ref("servers", SERVER)],
        "messages": messages,
    }


def _operations(handlers: dict) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for name, event_type in CATALOG.items():
        for publisher in event_type.publishers:
            for consumer in event_type.consumers:
                operations[f"{publisher}.send.{name}.{consumer}"] = {
                    "action": "send",
                    "channel": _ref("channels", consumer),
                    "title": f"{publisher} sends {name} to {consumer}",
                    "summary": f"{publisher} publishes {name}; after commit it goes to {consumer}.",
                    "messages": [_ref("channels", consumer, "messages", name)],
                }
    for (consumer, name), handler in sorted(handlers.items()):
        operations[f"{consumer}.receive.{name}"] = {
            "action": "receive",
            "channel": _ref("channels", consumer),
            "title": f"{consumer} receives {name}",
            "summary": f"Applied by `{_handler_name(handler)}`, once per event (inbox).",
            "messages": [_ref("channels", consumer, "messages", name)],
            "x-handler": _handler_name(handler),
        }
    return operations


def document() -> dict[str, Any]:
    """The AsyncAPI document of the current catalog and handlers."""
    handlers = registered()
    schemas: dict[str, Any] = {HEADERS: _headers()}
    for name, event_type in CATALOG.items():
        schemas[name] = _payload(event_type, schemas)
    return {
        "asyncapi": VERSION,
        "id": "urn:order-platform:events",
        "info": {
            "title": "Order platform events",
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "description": (
                "The events through which the gateway and the users, billing, orders and "
                "notifications domains collaborate, generated from `kernel/catalog.py` and the "
                "registered handlers (`python manage.py asyncapi`). "
                f"{WIRE} Events that no domain consumes are listed under components.messages "
                "with an empty `x-consumers`; they belong to no channel."
            ),
            "license": {"name": "MIT"},
        },
        "defaultContentType": "application/json",
        "servers": {
            SERVER: {
                "host": "{host}",
                "pathname": "/{database}",
                "protocol": "redis",
                "title": "Celery broker",
                "description": (
                    "The Redis that CELERY_BROKER_URL names; every domain queue is a list there."
                ),
                "variables": {
                    "host": {
                        "default": "127.0.0.1:6379",
                        "description": "host:port of CELERY_BROKER_URL (the local default here)",
                    },
                    "database": {
                        "default": "0",
                        "description": "the database number of CELERY_BROKER_URL",
                    },
                },
            }
        },
        "channels": {queue: _channel(queue) for queue in settings.DOMAIN_QUEUES},
        "operations": _operations(handlers),
        "components": {
            "schemas": schemas,
            "messages": {
                name: _message(name, event_type, handlers) for name, event_type in CATALOG.items()
            },
            "correlationIds": {
                "correlation": {
                    "description": "The request's id, carried by every event it leads to.",
                    "location": "$message.header#/correlation_id",
                }
            },
        },
    }


def dump(data: dict[str, Any]) -> str:
    """YAML, in the order the document is built."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def render() -> str:
    return dump(document())


def write(path: Path) -> bool:
    """Put the current document into ``path``; True if it changed."""
    text = render()
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
