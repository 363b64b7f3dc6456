"""Traces and log lines of the real processes: the API under gunicorn, a worker per domain queue
and beat, each started by scripts/entrypoint.sh as in the image, on a database and Redis
databases of their own (the suite's workers never see their messages)."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg2
import pytest
import redis
import requests
from django.conf import settings

from kernel.messaging.models import OutboxEvent
from tests.flows import unique_name
from tests.support import ROOT, database_url, eventually

PASSWORD = "Tr0ub4dor&3-never-in-a-log"
QUEUES = settings.DOMAIN_QUEUES


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _admin(sql: str) -> None:
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(
        dbname="postgres",
        user=db["USER"],
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        password=db["PASSWORD"] or None,
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


@pytest.fixture(scope="module")
def stack_database(redis_server) -> Iterator[str]:
    """A database of the module's own, migrated by the entrypoint's migrate role."""
    name = f"{settings.DATABASES['default']['NAME']}_telemetry"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    url = database_url().rsplit("/", 1)[0] + f"/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
    }
    subprocess.run(
        [str(ROOT / "scripts" / "entrypoint.sh"), "migrate", "-v", "0"],
        env=env,
        check=True,
        timeout=300,
    )
    try:
        yield url
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stack:
    """The processes of one stack; each one's output in a file of its own."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, **extra: str) -> None:
        self.procs[name] = subprocess.Popen(
            [str(ROOT / "scripts" / "entrypoint.sh"), *args],
            cwd=ROOT,
            env={**self.env, **extra},
            stdout=(self.logdir / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def api(self, name: str = "web", **extra: str) -> str:
        port = _free_port()
        self.start(name, "web", WEB_BIND=f"127.0.0.1:{port}", **extra)
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(f"{url}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        eventually(up, timeout=60, interval=0.3, what=f"the API process {name}")
        return url

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def lines(self) -> dict[str, list[str]]:
        return {
            path.stem: path.read_text(errors="replace").splitlines()
            for path in sorted(self.logdir.glob("*.log"))
        }


@contextmanager
def stack(database: str, redis_dbs: tuple[int, int, int], **env: str) -> Iterator[Stack]:
    """A worker per domain queue and beat, consuming their own Redis databases."""
    broker, replies, cache = (
        f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/{n}" for n in redis_dbs
    )
    logdir = Path(tempfile.mkdtemp(prefix="stack-", dir=os.environ.get("TEST_LOG_DIR")))
    environment = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "REPLY_REDIS_URL": replies,
        "CACHE_URL": cache,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(logdir / "mail"),
        "BEAT_SCHEDULE_FILE": str(logdir / "beat-schedule"),
        "WEB_WORKERS": "1",
        "WORKER_CONCURRENCY": "1",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    for url in (broker, replies, cache):
        redis.Redis.from_url(url).flushdb()
    running = Stack(environment, logdir)
    try:
        for queue in QUEUES:
            running.start(queue, "worker", queue)
        running.start("beat", "beat")
        yield running
    finally:
        running.stop()
        for url in (broker, replies, cache):
            redis.Redis.from_url(url).flushdb()
        print(f"\nstack logs: {logdir}")


def _customer(url: str, http: requests.Session, amount: str = "100.00") -> dict:
    """Registered, logged in, its account open and topped up, through the API only."""
    username = unique_name("tele")
    email = f"{username}@example.com"
    registered = http.post(
        f"{url}/register/",
        json={"username": username, "email": email, "password": PASSWORD, "first_name": "Ada"},
        timeout=60,
    )
    assert registered.status_code == 201, registered.text
    tokens = http.post(
        f"{url}/login/", json={"username": username, "password": PASSWORD}, timeout=60
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access']}"}
    eventually(
        lambda: http.get(f"{url}/account/", headers=headers, timeout=10).status_code == 200,
        timeout=60,
        what="the account",
    )
    deposited = http.post(
        f"{url}/transaction/", json={"amount": amount}, headers=headers, timeout=60
    )
    assert deposited.status_code == 201, deposited.text
    return {"username": username, "email": email, "headers": headers, **tokens}


# --- Traces -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def traced(stack_database, tmp_path_factory) -> Iterator[tuple[Stack, dict[str, str], Path]]:
    """A stack with tracing on, its spans in one file; two API processes: one as deployed, and
    one whose broker no worker reads, so that what it publishes arrives only through the
    outbox sweep."""
    spans = tmp_path_factory.mktemp("spans") / "spans.jsonl"
    lost = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/14"
    with ExitStack() as cleanup:
        running = cleanup.enter_context(
            stack(
                stack_database,
                (10, 11, 2),  # the test settings' cache is database 2
                DJANGO_SETTINGS_MODULE="gateway_django.settings.test",
                TRACING_SPAN_FILE=str(spans),
                OTEL_BSP_SCHEDULE_DELAY="200",
                GATEWAY_REPLY_TIMEOUT="60",
            )
        )
        apis = {
            "web": running.api(),
            "lossy": running.api("lossy", CELERY_BROKER_URL=lost, GATEWAY_REPLY_TIMEOUT="1"),
        }
        cleanup.callback(redis.Redis.from_url(lost).flushdb)
        yield running, apis, spans


def _spans(path: Path, trace_id: str) -> list[dict]:
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [span for span in found if span["trace_id"] == trace_id]


def _db_system(span: dict) -> str | None:
    attributes = span["attributes"]
    return attributes.get("db.system.name") or attributes.get("db.system")


def _traceparent() -> tuple[str, str, str]:
    trace_id, parent = os.urandom(16).hex(), os.urandom(8).hex()
    return trace_id, parent, f"00-{trace_id}-{parent}-01"


SAGA = {
    ("order-platform-worker-orders", "orders OrderRequested"),
    ("order-platform-worker-billing", "billing TransactionRequested"),
    ("order-platform-worker-orders", "orders TransactionCompleted"),
    ("order-platform-worker-notifications", "notifications OrderConfirmed"),
    ("order-platform-worker-gateway", "gateway OrderConfirmed"),
}


def test_one_order_is_one_trace_from_the_request_through_every_worker(traced):
    _running, apis, path = traced
    http = requests.Session()
    buyer = _customer(apis["web"], http)
    trace_id, parent, traceparent = _traceparent()

    answer = http.post(
        f"{apis['web']}/order/",
        json={"price": "25.00", "description": "a traced book"},
        headers={**buyer["headers"], "traceparent": traceparent, "X-Request-ID": "edge-42"},
        timeout=60,
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "confirmed"
    # The incoming trace is continued, and said back.
    assert answer.headers["traceresponse"].split("-")[1] == trace_id
    assert answer.headers["X-Request-ID"] == "edge-42"
    correlation = answer.headers["X-Correlation-ID"]

    def whole_saga() -> list[dict]:
        spans = _spans(path, trace_id)
        return spans if {(s["service"], s["name"]) for s in spans} >= SAGA else []

    spans = eventually(whole_saga, timeout=60, interval=0.5, what="the saga's spans")
    request = [s for s in spans if s["kind"] == "SERVER"]
    assert len(request) == 1 and request[0]["parent_id"] == parent
    assert request[0]["service"] == "order-platform-web"
    assert request[0]["attributes"]["correlation_id"] == correlation
    # Each process that took part has its SQL in the trace, and the API and the workers that
    # sent or answered their Redis commands.
    services = {service for service, _ in SAGA} | {"order-platform-web"}
    for service in services:
        assert any(s["service"] == service and _db_system(s) == "postgresql" for s in spans), (
            f"no SQL span of {service}"
        )
    for service in (
        "order-platform-web",
        "order-platform-worker-orders",
        "order-platform-worker-gateway",
    ):
        assert any(s["service"] == service and _db_system(s) == "redis" for s in spans), (
            f"no Redis span of {service}"
        )
    # Every span that exists is a child of one in the trace: nothing of it started a trace of
    # its own (a delivery's parent is the span that published its event).
    ids = {s["span_id"] for s in spans} | {parent}
    assert all(s["parent_id"] in ids for s in spans)
    # And no delivery of this saga is in another trace.
    everything = [json.loads(line) for line in path.read_text().splitlines() if line]
    saga = [
        s
        for s in everything
        if s["attributes"].get("messaging.message.conversation_id") == correlation
    ]
    assert {s["trace_id"] for s in saga} == {trace_id}


def test_with_tracing_on_the_probes_still_answer_a_pod_ip_host_and_make_no_span(traced):
    # What a kubelet sends: its pod's address as Host, which no ALLOWED_HOSTS names. The
    # probes are answered before the host check, tracing on or off (tests/test_probes.py).
    _running, apis, path = traced
    trace_id, _parent, traceparent = _traceparent()
    headers = {"Host": "10.1.2.3:8000", "traceparent": traceparent}
    for probe in ("healthz", "readyz"):
        answer = requests.get(f"{apis['web']}/{probe}", headers=headers, timeout=10)
        assert answer.status_code == 200, (probe, answer.text)
    # Any other path checks the Host, in the one JSON error shape, and is traced.
    refused = requests.get(f"{apis['web']}/me/", headers=headers, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "bad_request"
    spans = eventually(
        lambda: _spans(path, trace_id), timeout=10, interval=0.3, what="the refused request's span"
    )
    assert [(s["kind"], s["attributes"]["http.response.status_code"]) for s in spans] == [
        ("SERVER", "400")  # the file of spans writes every attribute as a string
    ]


def test_an_event_the_sweep_sends_again_keeps_the_trace_it_was_published_in(traced):
    running, apis, path = traced
    http = requests.Session()
    buyer = _customer(apis["web"], http)
    trace_id, _parent, traceparent = _traceparent()

    # The lossy API's broker is read by no worker: its OrderRequested reaches orders only when
    # the beat's outbox sweep finds it unapplied and sends the stored envelope again.
    answer = http.post(
        f"{apis['lossy']}/order/",
        json={"price": "5.00", "description": "sent again"},
        headers={**buyer["headers"], "traceparent": traceparent},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    order_id = answer.json()["id"]

    def applied() -> list[dict]:
        spans = _spans(path, trace_id)
        names = {s["name"] for s in spans}
        return spans if {"orders OrderRequested", "gateway OrderConfirmed"} <= names else []

    spans = eventually(applied, timeout=90, interval=0.5, what="the order, sent by the sweep")
    [request] = [s for s in spans if s["kind"] == "SERVER"]
    assert request["service"] == "order-platform-web"  # the lossy API names itself as the API
    [delivered] = [s for s in spans if s["name"] == "orders OrderRequested"]
    # A child of the span that published it, in the request of another process, long gone.
    publisher = {s["span_id"]: s for s in spans}[delivered["parent_id"]]
    assert publisher["trace_id"] == trace_id
    # And it was the sweep that sent it.
    with psycopg2.connect(running.env["DATABASE_URL"]) as conn, conn.cursor() as cursor:
        cursor.execute(
            f"SELECT redeliveries, envelope -> 'trace' ->> 'traceparent' "
            f"FROM {OutboxEvent._meta.db_table} "
            "WHERE type = 'OrderRequested' AND envelope -> 'payload' ->> 'order_id' = %s",
            [order_id],
        )
        redeliveries, stored = cursor.fetchone()
    assert redeliveries >= 1
    assert stored.split("-")[1] == trace_id


# --- Log lines --------------------------------------------------------------------------------


def _records(lines: list[str]) -> list[dict]:
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def test_production_log_lines_are_json_with_their_context_and_no_secret(stack_database):
    """Registration, login, a deposit and an order through the production settings at DEBUG:
    every line of every process is one JSON object, and none shows the password, a token or
    the email address."""
    secret = "s" * 16 + uuid.uuid4().hex + "-not-published"
    with stack(
        stack_database,
        (3, 4, 5),
        DJANGO_SETTINGS_MODULE="gateway_django.settings.production",
        DJANGO_SECRET_KEY=secret,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="DEBUG",
        CELERY_LOG_LEVEL="DEBUG",
        GATEWAY_REPLY_TIMEOUT="60",
        # The suite may run as root, as the image never does: Celery's warning about it is
        # printed before any logging is set up.
        PYTHONWARNINGS="ignore:You're running the worker with superuser privileges",
    ) as running:
        url = running.api()
        http = requests.Session()
        buyer = _customer(url, http)
        key = f"idem-{uuid.uuid4().hex}"
        placed = http.post(
            f"{url}/order/",
            json={"price": "10.00", "description": "a logged book"},
            headers={**buyer["headers"], "Idempotency-Key": key, "X-Request-ID": "req-7"},
            timeout=60,
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        # The saga's last step: the notifications worker sends the confirmation.
        eventually(
            lambda: any(
                r.get("order_id") == order_id and r.get("event_type") == "OrderConfirmed"
                for r in _records(running.lines()["notifications"])
            ),
            timeout=60,
            what="the notifications worker's line about the order",
        )

    lines = running.lines()
    assert set(lines) >= {"web", "beat", *QUEUES}
    records = []
    for name, text in lines.items():
        for line in text:
            try:
                records.append((name, json.loads(line)))
            except ValueError:
                pytest.fail(f"{name}: a line that is not JSON: {line[:300]}")
    everything = "\n".join("\n".join(text) for text in lines.values())
    for value in (PASSWORD, buyer["access"], buyer["refresh"], buyer["email"], key, secret):
        assert value not in everything, f"{value[:12]}... is in a log line"
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", everything), "a token is in a log line"
    # The fields that tie the lines together, where they exist.
    handled = [
        r for name, r in records if name == "orders" and r.get("event_type") == "OrderRequested"
    ]
    assert handled, "no line of the orders worker names the event it handles"
    assert all(
        r["consumer"] == "orders"
        and r["order_id"] == order_id
        and r.get("correlation_id")
        and r.get("event_id")
        for r in handled
    )
    web = [r for name, r in records if name == "web" and r.get("request_id") == "req-7"]
    assert web and all(r.get("correlation_id") for r in web)
    assert all({"time", "level", "logger", "message"} <= set(r) for _, r in records)
