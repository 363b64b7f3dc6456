"""Test harness: real Celery workers, one per domain queue, on the test database and a Redis
database of their own, started once per session as separate processes (as in production)."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests.support import FLOWER_AUTH, ROOT, database_url, eventually


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("history", "the history checker (tests/test_history.py)")
    group.addoption("--history-seconds", type=float, help="traffic and faults per seed")
    group.addoption("--history-seed", type=int, help="run this seed only")


class RedisServer:
    """The tests' own Redis server (it keeps nothing on disk), which a test may restart."""

    def __init__(self, port: int, logdir: Path) -> None:
        self.port = port
        self.logdir = logdir
        self.proc: subprocess.Popen | None = None

    def ping(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        log = open(self.logdir / "redis.log", "ab")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.logdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        eventually(self.ping, timeout=10, what=f"Redis on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # like a crash: nothing is saved, and this server saves nothing
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[RedisServer]:
    logdir = Path(tempfile.mkdtemp(prefix="redis-", dir=os.environ.get("TEST_LOG_DIR")))
    server = RedisServer(settings.TEST_REDIS_PORT, logdir)
    if not server.ping():
        server.start()
    yield server
    server.stop()


class Workers:
    """The worker processes of one test session; a test may stop and restart one domain's."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}
        # Each process's metrics endpoint, as a pod's would be scraped (kernel/telemetry).
        self.metrics_ports: dict[str, int] = {}

    def _command(self, name: str, concurrency: int) -> list[str]:
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
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
        ]

    def start(self, *names: str, concurrency: int = 2, **extra_env: str) -> None:
        """Start these processes; ``concurrency=1`` makes a worker apply its queue in order."""
        for name in names:
            log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - kept open by the child
            self.metrics_ports.setdefault(name, free_port())
            metrics = {"METRICS_PORT": str(self.metrics_ports[name])}
            if name != "beat":  # a worker's pool processes add up their files, as deployed
                metrics_dir = self.logdir / f"metrics-{name}"
                metrics_dir.mkdir(exist_ok=True)
                for stale in metrics_dir.glob("*.db"):  # a restarted worker starts from zero
                    stale.unlink()
                metrics["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            env = {
                **self.env,
                **metrics,
                **extra_env,
                "DATABASE_URL": f"{self.env['DATABASE_URL']}?application_name=worker-{name}",
            }
            self.procs[name] = subprocess.Popen(
                self._command(name, concurrency),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
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
            try:
                replies = app.control.ping(destination=sorted(wanted), timeout=0.5) or []
            except Exception:  # the broker itself may be restarting; ask again
                replies = []
                time.sleep(0.2)
            for reply in replies:
                wanted -= set(reply)
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {timeout}s: {sorted(wanted)}")

    def stop(self, *names: str, sig: int = signal.SIGTERM) -> None:
        """Stop these processes (warm shutdown by default; SIGKILL: a crash of the worker and
        its pool), all at once."""
        stopping = [self.procs.pop(name) for name in names if name in self.procs]
        for proc in stopping:
            if sig == signal.SIGKILL:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(sig)
        for proc in stopping:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        self.stop(*list(self.procs))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def workers(
    django_db_setup: Any, django_db_blocker: Any, redis_server: RedisServer
) -> Iterator[Workers]:
    """One worker per domain queue plus beat, consuming the test Redis, writing the test DB."""
    for url in (settings.CELERY_BROKER_URL, settings.REPLY_REDIS_URL):
        redis.Redis.from_url(url).flushdb()
    logdir = Path(tempfile.mkdtemp(prefix="workers-", dir=os.environ.get("TEST_LOG_DIR")))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "DATABASE_URL": database_url(),
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
def live(workers: Workers, transactional_db: None) -> Iterator[Workers]:
    """The workers, for one test on a committed database; at the end the test waits until all
    it sent has been applied, so nothing of it arrives in the next test's database."""
    yield workers
    from tests.invariants import quiesce

    quiesce()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def flower(live: Workers) -> Iterator[str]:
    """Flower, started as every deployment starts it, on the session's Redis: its URL, behind
    FLOWER_AUTH."""
    import socket

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
        "FLOWER_PORT": str(port),
        # As in development: Flower turns the workers' task events on (the test settings, like
        # production's, leave them off).
        "FLOWER_ENABLE_EVENTS": "true",
    }
    proc = subprocess.Popen(
        ["scripts/entrypoint.sh", "flower"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"

    def answers() -> bool:
        try:
            return requests.get(url + "healthcheck", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        eventually(answers, timeout=60, what="flower to start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        # Flower switched the workers' task events on, as it does by default; the rest of the
        # session runs as production does without it.
        from gateway_django.celery import app

        app.control.disable_events()
