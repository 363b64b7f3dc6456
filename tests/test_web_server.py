"""The API process as deployed (gunicorn with gateway_django/gunicorn.py): requests waiting for
their answer events pin neither a thread nor a database connection."""

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import requests
import urllib3
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from kernel.web.hashers import Argon2PasswordHasher
from tests.support import ROOT, database_url, eventually
from users.tests.factories import UserFactory

WAITING = 300
OLD_THREADS = 128  # the thread pool an API process had before it ran on gevent
REPLY_TIMEOUT = 5.0
SLOTS = 6
GUNICORN_ARGS = ["--config", "python:gateway_django.gunicorn"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(**env: str) -> Iterator[tuple[str, urllib3.PoolManager]]:
    """One API process as deployed, on a port of its own, on the test database and Redis; its
    log goes to a file the failures name."""
    port = _free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "DATABASE_URL": f"{database_url()}?application_name=api-under-test",
        "DATABASE_CONN_MAX_AGE": "0",
        "DATABASE_POOL_SIZE": str(SLOTS),
        "WEB_DATABASE_SLOTS": str(SLOTS),
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",
        "WEB_ACCESS_LOG": "/dev/null",
        **env,
    }
    log = Path(tempfile.mkdtemp(prefix="api-", dir=os.environ.get("TEST_LOG_DIR"))) / "api.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "gateway_django.wsgi", *GUNICORN_ARGS],
        cwd=ROOT,
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager(maxsize=WAITING)

    def ready() -> bool:
        try:
            return http.request("GET", f"{url}/healthz", retries=False).status == 200
        except urllib3.exceptions.HTTPError:
            return False

    try:
        eventually(ready, timeout=30, what="the API process")
        yield url, http, log
    finally:
        http.clear()  # no idle keep-alive connection for a graceful stop to wait on
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture
def api_server(settings, live):
    """One API process that publishes to a broker database no worker reads and waits on a reply
    database no worker writes: every order waits the whole reply timeout and is answered 202.

    Its orders are not lost for that: the workers' outbox relay finds them unapplied and sends
    them to the orders queue a few seconds later; ``live`` waits for all of them to settle.
    """
    broker = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/12"
    replies = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/13"
    try:
        with gunicorn(
            CELERY_BROKER_URL=broker,
            REPLY_REDIS_URL=replies,
            GATEWAY_REPLY_TIMEOUT=str(REPLY_TIMEOUT),
        ) as server:
            yield server
    finally:
        for url in (broker, replies):
            redis.Redis.from_url(url).flushdb()


def _sessions_of_api() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'api-under-test'"
        )
        return cursor.fetchone()[0]


def test_hundreds_of_requests_wait_at_once_on_one_process(api_server):
    url, http, log = api_server
    headers = {"Authorization": f"Bearer {AccessToken.for_user(UserFactory())}"}
    sessions: list[int] = []
    stop = threading.Event()

    waiting: list[int] = []
    reply_redis = redis.Redis(port=settings.TEST_REDIS_PORT)

    def watch() -> None:
        try:
            while not stop.is_set():
                sessions.append(_sessions_of_api())
                waiting.append(reply_redis.info("clients")["blocked_clients"])
                time.sleep(0.1)
        finally:
            connection.close()  # this thread's own

    def order(_: int) -> int:
        body = {"price": "1.00", "description": "waits"}
        return http.request("POST", f"{url}/order/", json=body, headers=headers).status

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=WAITING) as pool:
            codes = list(pool.map(order, range(WAITING)))
    finally:
        stop.set()
        watcher.join()

    assert codes == [202] * WAITING, f"see the API process's log: {log}"
    # They waited side by side, blocked on their reply lists at the same moment (the Redis
    # server counts them, beside the workers' own waits at the start), more than any thread
    # pool the process was given before (128) would let wait. Told by the server rather than by
    # the elapsed time, which a loaded machine stretches; the requests that arrive after the
    # first ones' timeout may not all overlap, on such a machine, with the first.
    at_once = max(waiting) - waiting[0]
    assert at_once > OLD_THREADS, f"at most {at_once} requests waited at once"
    # And while they waited they held no database session beyond the process's slots.
    assert max(sessions) <= SLOTS, f"the API process had {max(sessions)} PostgreSQL sessions"


def _admin_logins(url: str, username: str, done: threading.Event) -> list[int]:
    """Wrong passwords posted to the admin's login form, as a browser would, until ``done``."""
    codes = []
    with requests.Session() as browser:
        form = browser.get(f"{url}/admin/login/", timeout=30).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        while not done.is_set():
            response = browser.post(
                f"{url}/admin/login/",
                data={"username": username, "password": "wrong", "csrfmiddlewaretoken": token},
                timeout=30,
            )
            codes.append(response.status_code)
    return codes


@pytest.mark.django_db(transaction=True)
def test_password_hashing_does_not_stall_the_api_process():
    """Ten admin logins at once, each an Argon2 hash: /healthz of the same process still
    answers in milliseconds (it took a second while the hashes held the event loop)."""
    staff = UserFactory(is_staff=True, password=Argon2PasswordHasher().encode("pw", "s" * 16))
    with gunicorn() as (url, http, _log):

        def probe() -> float:
            started = time.monotonic()
            assert http.request("GET", f"{url}/healthz").status == 200
            return time.monotonic() - started

        idle = statistics.median(probe() for _ in range(20))
        done = threading.Event()
        probes: list[float] = []
        with ThreadPoolExecutor(max_workers=10) as pool:
            browsers = [pool.submit(_admin_logins, url, staff.username, done) for _ in range(10)]
            time.sleep(1.0)  # every browser logging in
            for _ in range(40):
                probes.append(probe())
                time.sleep(0.05)
            done.set()
            logins = [code for browser in browsers for code in browser.result()]
    busy = statistics.median(probes)
    print(f"\n/healthz p50: {idle * 1000:.1f} ms idle, {busy * 1000:.1f} ms during logins")
    print(f"{len(logins)} logins")
    assert logins and set(logins) == {200}  # the form again: wrong password, hashed all the same
    assert busy < 0.15, f"/healthz p50 {busy * 1000:.0f} ms while admin logins were hashing"


@pytest.mark.django_db(transaction=True)
def test_a_body_shorter_than_its_content_length_is_refused(settings):
    """A client that announces more bytes than it sends, then gives up: the server has only
    the part that came, which may parse (here it does); it is refused, and nothing is placed."""
    from gateway.models import OrderRequest
    from kernel.messaging.models import OutboxEvent

    token = AccessToken.for_user(UserFactory())
    body = b'{"price": "5.00"}'
    broker = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/12"
    with gunicorn(CELERY_BROKER_URL=broker, GATEWAY_REPLY_TIMEOUT="1") as (url, _http, _log):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as client:
            client.sendall(
                b"POST /order/ HTTP/1.1\r\n"
                + f"Host: {host}\r\nAuthorization: Bearer {token}\r\n".encode()
                + b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(body) + 40}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            client.shutdown(socket.SHUT_WR)  # the client gives up sending
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
    redis.Redis.from_url(broker).flushdb()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b'"incomplete_body"' in rest
    assert not OrderRequest.objects.exists() and not OutboxEvent.objects.exists()


def test_orders_while_the_api_database_sessions_are_terminated_are_never_500(live, api):
    """Orders placed against a real API process (its pooled connections) while every one of
    its PostgreSQL sessions is terminated every 100 ms: each is answered 201 or 202, or 503
    with Retry-After when it had written already; none is a 500, and nothing is lost."""
    from tests.flows import customer, deposit
    from tests.invariants import saga_report

    buyers = [customer(api) for _ in range(4)]
    for buyer in buyers:
        deposit(buyer.client, "1000.00")
    tokens = [b.client._credentials["HTTP_AUTHORIZATION"] for b in buyers]
    stop = threading.Event()
    terminated: list[int] = []

    with gunicorn() as (url, http, _log):

        def cut() -> None:
            try:
                while not stop.wait(0.1):
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = 'api-under-test'"
                        )
                        terminated.append(cursor.fetchone()[0])
            finally:
                connection.close()

        def place(i: int) -> tuple[int, str | None]:
            time.sleep(i * 0.02)
            response = http.request(
                "POST",
                f"{url}/order/",
                json={"price": "5.00"},
                headers={"Authorization": tokens[i % len(tokens)]},
            )
            return response.status, response.headers.get("Retry-After")

        cutter = threading.Thread(target=cut)
        cutter.start()
        try:
            with ThreadPoolExecutor(max_workers=20) as pool:
                answers = list(pool.map(place, range(100)))
        finally:
            stop.set()
            cutter.join()

    codes = Counter(code for code, _ in answers)
    print(f"\nanswers: {dict(codes)}; sessions terminated: {sum(terminated)}")
    assert set(codes) <= {201, 202, 503}, codes
    assert all(retry == "1" for code, retry in answers if code == 503)
    report = saga_report("API database sessions terminated under load")
    # A 503 after the order was written leaves it placed (its key would replay it).
    assert codes[201] + codes[202] <= sum(report["outcomes"].values()) <= len(answers)


def test_the_gunicorn_master_imports_no_database_code():
    """Gunicorn's master imports the config, and so this package and its Celery app, before each
    API process patches threading for gevent. django.db imported then makes the store of
    connections a real thread's, shared by every greenlet: each request would take another's."""
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, gateway_django.gunicorn; print(*sorted(sys.modules))"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not [name for name in imported if name.startswith("django.db")]
