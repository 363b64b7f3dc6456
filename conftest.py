"""Test harness: real Celery workers, one per domain queue, on the test database and a Redis
database of their own, started once per session as separate processes (as in production)."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent


def eventually(
    probe: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Workers:
    """The worker processes of one test session; a test may stop and restart one domain's."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}

    def _command(self, name: str) -> list[str]:
        if name == "beat":
            return [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "gateway_django",
                "beat",
                "-l",
                "INFO",
                "--schedule",
                str(self.logdir / "beat-schedule"),
            ]
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gateway_django",
            "worker",
            "-Q",
            name,
            "-n",
            f"{name}@test",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
        ]

    def start(self, *names: str) -> None:
        for name in names:
            log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - kept open by the child
            self.procs[name] = subprocess.Popen(
                self._command(name), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_ready([n for n in names if n != "beat"])

    def wait_ready(self, names: list[str], timeout: float = 60.0) -> None:
        from gateway_django.celery import app

        wanted = {f"{name}@test" for name in names}
        deadline = time.monotonic() + timeout
        while wanted:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"worker {name} exited: see {self.logdir / name}.log")
            replies = app.control.ping(destination=sorted(wanted), timeout=0.5) or []
            for reply in replies:
                wanted -= set(reply)
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {timeout}s: {sorted(wanted)}")

    def stop(self, *names: str, sig: int = signal.SIGTERM) -> None:
        """Stop these processes (warm shutdown by default; SIGKILL for a crash), all at once."""
        stopping = [self.procs.pop(name) for name in names if name in self.procs]
        for proc in stopping:
            proc.send_signal(sig)
        for proc in stopping:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        self.stop(*list(self.procs))


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def workers(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Workers]:
    """One worker per domain queue plus beat, consuming the test Redis, writing the test DB."""
    for url in (settings.CELERY_BROKER_URL, settings.REPLY_REDIS_URL):
        redis.Redis.from_url(url).flushdb()
    logdir = Path(tempfile.mkdtemp(prefix="workers-", dir=os.environ.get("TEST_LOG_DIR")))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REPLY_REDIS_URL": settings.REPLY_REDIS_URL,
        "EMAIL_FILE_PATH": str(logdir / "mail"),
        "PYTHONUNBUFFERED": "1",
    }
    pool = Workers(env, logdir)
    try:
        pool.start(*settings.DOMAIN_QUEUES, "beat")
        yield pool
    finally:
        pool.stop_all()
        print(f"\nworker logs: {logdir}")


@pytest.fixture
def api() -> APIClient:
    return APIClient()
