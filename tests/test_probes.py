"""The probes the Kubernetes chart uses: the API's, answered before host checks and database
slots, and the heartbeat file that workers and beat keep for their liveness probe."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import Client, override_settings

from kernel.messaging import heartbeat
from kernel.web import middleware

ROOT = Path(__file__).resolve().parent.parent


@override_settings(ALLOWED_HOSTS=["arch.homework"])
def test_liveness_answers_a_pod_ip_host_and_a_process_without_free_database_slots():
    client = Client(HTTP_HOST="10.1.2.3:8000")  # what a kubelet sends
    assert client.get("/me/").status_code == 400  # any other path checks the Host
    semaphore = middleware._semaphore()
    held = 0
    while semaphore.acquire(blocking=False):
        held += 1
    try:
        with override_settings(WEB_DATABASE_SLOT_WAIT=0.01):
            assert client.get("/healthz").status_code == 200
    finally:
        for _ in range(held):
            semaphore.release()


READY = {
    "status": "ok",
    "database": "ok",
    "broker": "ok",
    "reply_redis": "ok",
    "cache_redis": "ok",
}
# Nothing listens on port 1 of this host: a connection there is refused at once.
UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["arch.homework"])
def test_readiness_checks_every_dependency_whatever_the_host():
    response = Client(HTTP_HOST="10.1.2.3:8000").get("/readyz")
    assert response.status_code == 200
    assert response.json() == READY


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("check", "changes"),
    [
        ("reply_redis", {"REPLY_REDIS_URL": UNREACHABLE}),
        (
            "cache_redis",
            {"CACHES": {"default": {**settings.CACHES["default"], "LOCATION": UNREACHABLE}}},
        ),
    ],
)
def test_readiness_fails_when_a_redis_it_needs_is_unreachable(check, changes):
    with override_settings(**changes):
        response = Client().get("/readyz")
        assert Client().get("/healthz").status_code == 200  # liveness needs none of them
    assert response.status_code == 503
    assert response.json() == {
        **READY,
        "status": "unavailable",
        check: "error: ConnectionError",
    }


def test_a_heartbeat_is_fresh_until_its_max_age(tmp_path):
    path = tmp_path / "heartbeat"
    assert not heartbeat.is_fresh(path, 60)
    assert heartbeat.main([str(path)]) == 1
    heartbeat.touch(path)
    now = time.time()
    assert heartbeat.is_fresh(path, 60, now=now + 59)
    assert not heartbeat.is_fresh(path, 60, now=now + 61)
    assert heartbeat.main([str(path), "--max-age", "60"]) == 0
    os.utime(path, (now - 120, now - 120))
    assert heartbeat.main([str(path), "--max-age", "60"]) == 1


def test_a_worker_and_beat_keep_their_heartbeat_files_while_they_run(tmp_path, redis_server):
    """The real processes, as the chart starts them, on a Redis database no other test uses."""
    broker = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}/9"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "CELERY_BROKER_URL": broker,
        "BEAT_SCHEDULE_FILE": str(tmp_path / "beat-schedule"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    files = {role: tmp_path / f"{role}.heartbeat" for role in ("worker", "beat")}
    procs = [
        subprocess.Popen(
            [str(ROOT / "scripts" / "entrypoint.sh"), *command],
            env={**env, "HEARTBEAT_FILE": str(files[role])},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for role, command in (("worker", ["worker", "gateway"]), ("beat", ["beat"]))
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(path.exists() for path in files.values()):
            assert all(proc.poll() is None for proc in procs), "a process exited"
            assert time.monotonic() < deadline, "no heartbeat after 60 s"
            time.sleep(0.2)
        for path in files.values():
            check = [str(ROOT / "scripts" / "entrypoint.sh"), "healthcheck"]
            result = subprocess.run(check, env={**env, "HEARTBEAT_FILE": str(path)}, check=False)
            assert result.returncode == 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        redis.Redis.from_url(broker).flushdb()
