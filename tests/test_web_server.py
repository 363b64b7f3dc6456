"""The API process as deployed (gunicorn with gateway_django/gunicorn.py): requests waiting for
their answer events pin neither a thread nor a database connection."""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import urllib3
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from conftest import ROOT, _database_url, eventually
from users.tests.factories import UserFactory

WAITING = 300  # more than any thread pool the API process was given before (128 per process)
REPLY_TIMEOUT = 5.0
SLOTS = 6
GUNICORN_ARGS = ["--config", "python:gateway_django.gunicorn"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def api_server(settings, live):
    """One API process that publishes to a broker database no worker reads and waits on a reply
    database no worker writes: every order waits the whole reply timeout and is answered 202.

    Its orders are not lost for that: the workers' outbox relay finds them unapplied and sends
    them to the orders queue a few seconds later; ``live`` waits for all of them to settle.
    """
    port = _free_port()
    broker = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/12"
    replies = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/13"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "DATABASE_URL": f"{_database_url()}?application_name=api-under-test",
        "DATABASE_CONN_MAX_AGE": "0",
        "DATABASE_POOL_SIZE": str(SLOTS),
        "WEB_DATABASE_SLOTS": str(SLOTS),
        "CELERY_BROKER_URL": broker,
        "REPLY_REDIS_URL": replies,
        "GATEWAY_REPLY_TIMEOUT": str(REPLY_TIMEOUT),
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",
        "WEB_ACCESS_LOG": "/dev/null",
    }
    log = Path(tempfile.mkdtemp(prefix="api-", dir=os.environ.get("TEST_LOG_DIR"))) / "api.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "gateway_django.wsgi", *GUNICORN_ARGS],
        cwd=ROOT,
        env=env,
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
    # All waited side by side, each blocked on its reply list at the same moment (the Redis
    # server counts them), not one batch of threads after another (128 threads: 3 rounds). Told
    # by the server rather than by the elapsed time, which a loaded machine stretches.
    assert max(waiting) >= WAITING, f"at most {max(waiting)} requests waited at once"
    # And while they waited they held no database session beyond the process's slots.
    assert max(sessions) <= SLOTS, f"the API process had {max(sessions)} PostgreSQL sessions"
