import json
import re
import shutil
import subprocess
import typing
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock
from uuid import UUID, uuid4

import pytest
from django.conf import settings
from jsonschema import Draft7Validator
from rest_framework.test import APIClient

from kernel import asyncapi, outbox
from kernel.events import CATALOG, Envelope, Event
from kernel.inbox import registered
from kernel.money import money_str, parse_money

ROOT = settings.BASE_DIR


def test_the_committed_document_is_the_catalog_of_the_code():
    assert (ROOT / "docs" / "asyncapi.yaml").read_text() == asyncapi.render(), (
        "docs/asyncapi.yaml is out of date: run `python manage.py asyncapi`"
    )


def _parse(tmp_path, document: dict) -> subprocess.CompletedProcess:
    """Run the AsyncAPI parser (scripts/asyncapi-check.mjs) on ``document``, installing the
    locked Node tools first if they are not."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to check the AsyncAPI document (node not found)")
    install = subprocess.run(
        [ROOT / "scripts" / "node-modules.sh"], capture_output=True, text=True, timeout=240
    )
    assert install.returncode == 0, install.stderr
    path = tmp_path / "asyncapi.yaml"
    path.write_text(asyncapi.dump(document))
    return subprocess.run(
        ["node", ROOT / "scripts" / "asyncapi-check.mjs", path],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_asyncapi_parser_accepts_the_document(tmp_path):
    check = _parse(tmp_path, asyncapi.document())
    assert check.returncode == 0, check.stdout + check.stderr
    assert " is valid " in check.stdout
    assert not re.search(r"^(error|warning) ", check.stdout, re.MULTILINE), check.stdout


def test_the_check_fails_on_a_broken_document(tmp_path):
    """The parser's verdict is not taken on trust: an operation naming a message its channel
    does not carry is refused."""
    document = asyncapi.document()
    document["operations"]["users.receive.RegistrationRequested"]["messages"] = [
        {"$ref": "#/channels/users/messages/OrderRequested"}
    ]
    check = _parse(tmp_path, document)
    assert check.returncode == 1, check.stdout
    assert re.search(r"^error invalid-ref ", check.stdout, re.MULTILINE), check.stdout


def test_every_queue_is_a_channel_carrying_what_its_domain_consumes():
    document = asyncapi.document()
    assert list(document["channels"]) == list(settings.DOMAIN_QUEUES)
    for queue, channel in document["channels"].items():
        assert channel["address"] == queue
        consumed = [name for name, e in CATALOG.items() if queue in e.consumers]
        assert list(channel["messages"]) == consumed


def test_every_event_is_a_message_and_every_handler_a_receive_operation():
    document = asyncapi.document()
    messages, operations = document["components"]["messages"], document["operations"]
    assert list(messages) == list(CATALOG)
    sends = {
        (op["channel"]["$ref"], op["messages"][0]["$ref"])
        for op in operations.values()
        if op["action"] == "send"
    }
    for name, event_type in CATALOG.items():
        assert messages[name]["x-publishers"] == list(event_type.publishers)
        assert [c["domain"] for c in messages[name]["x-consumers"]] == list(event_type.consumers)
        for consumer in event_type.consumers:
            for publisher in event_type.publishers:
                assert f"{publisher}.send.{name}.{consumer}" in operations
            assert (f"#/channels/{consumer}", f"#/channels/{consumer}/messages/{name}") in sends
    handlers = registered()
    receives = {key: op for key, op in operations.items() if op["action"] == "receive"}
    assert set(receives) == {f"{consumer}.receive.{name}" for consumer, name in handlers}
    for (consumer, name), handler in handlers.items():
        assert receives[f"{consumer}.receive.{name}"]["x-handler"] == (
            f"{handler.func.__module__}.{handler.func.__qualname__}"
        )
    assert all(c["handler"] for m in messages.values() for c in m["x-consumers"])


def test_an_event_no_domain_consumes_is_documented_in_no_channel():
    document = asyncapi.document()
    recorded_only = [name for name, e in CATALOG.items() if not e.consumers]
    assert recorded_only, "the catalog has events that are only recorded"
    for name in recorded_only:
        assert document["components"]["messages"][name]["x-consumers"] == []
        assert all(name not in channel["messages"] for channel in document["channels"].values())


def _sample(event_type: type[Event]) -> Event:
    """An instance with its required fields filled by type."""
    values = {}
    for field, info in event_type.model_fields.items():
        if not info.is_required():
            continue
        annotation = info.annotation
        if typing.get_origin(annotation) is typing.Literal:
            values[field] = typing.get_args(annotation)[0]
        elif type(None) in typing.get_args(annotation):
            values[field] = None
        else:
            values[field] = {UUID: uuid4(), str: "x", Decimal: Decimal("1234.5")}[annotation]
    return event_type(**values)


@pytest.mark.parametrize("name", list(CATALOG))
def test_what_the_outbox_sends_matches_the_document(name):
    """The envelope publish() builds validates against the message's headers and payload, and
    goes as one kernel.deliver task per consumer, on the queue of the channel that lists it."""
    document = asyncapi.document()
    event = _sample(CATALOG[name])
    message = Envelope(
        id=uuid4(),
        type=event.type_name(),
        version=event.version,
        occurred_at=datetime.now(UTC),
        correlation_id=uuid4(),
        payload=event.model_dump(mode="json"),
    ).model_dump(mode="json")
    headers = {key: value for key, value in message.items() if key != "payload"}
    for part, value in (("headers", headers), ("payload", message["payload"])):
        schema = {**document, "$ref": f"#/components/messages/{name}/{part}"}
        errors = [e.message for e in Draft7Validator(schema).iter_errors(value)]
        assert not errors, (part, value, errors)

    with mock.patch.object(outbox.current_app, "send_task") as send_task:
        outbox.send(message)
    sent = [
        (call.args, call.kwargs["args"], call.kwargs["queue"]) for call in send_task.call_args_list
    ]
    assert sent == [((outbox.DELIVER_TASK,), (c, message), c) for c in CATALOG[name].consumers]
    for consumer in CATALOG[name].consumers:
        assert name in document["channels"][consumer]["messages"]


@pytest.mark.parametrize("raw", ["0.01", "12.5", 7, "9999999999.99"])
def test_money_is_documented_as_the_string_publishers_write(raw):
    schema = asyncapi.document()["components"]["schemas"]["OrderCancelled"]["properties"]
    assert schema["price"]["type"] == "string"
    assert re.match(schema["price"]["pattern"], money_str(parse_money(raw)))
    assert not re.match(schema["price"]["pattern"], "12.5")


def test_the_api_serves_the_document_beside_the_openapi_schema():
    client = APIClient()
    response = client.get("/api/asyncapi/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert response.content.decode() == asyncapi.render()
    response = client.get("/api/asyncapi/", {"format": "json"})
    assert response.status_code == 200
    assert json.loads(response.content) == asyncapi.document()


@pytest.mark.django_db
def test_where_the_docs_are_private_the_document_is_too(settings):
    settings.API_DOCS_PUBLIC = False
    assert APIClient().get("/api/asyncapi/").status_code in (401, 403)
