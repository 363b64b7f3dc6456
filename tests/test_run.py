"""`make run` (scripts/run.sh) heals itself as a cluster would: a process of the stack killed
with SIGKILL is started again while the others go on, and Ctrl-C still stops everything. The
stack runs on ports, a database and the suite's own Redis databases of its own."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
import requests
from django.conf import settings

from tests.support import ROOT, eventually


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session(sid: int) -> dict[int, str]:
    """The processes of one session (the stack's): pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != sid:
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return found


def _worker(sid: int, queue: str) -> int | None:
    """The main process of the Celery worker of ``queue`` (not its pool's children)."""
    session = _session(sid)
    # Not the shell that starts it (whose command line holds the command too, until it execs).
    pids = [
        p
        for p, cmd in session.items()
        if f"worker -Q {queue} " in cmd and not cmd.startswith("/bin/bash")
    ]
    # Started by the stack's supervisor (run.sh execs it: its pid is the session's), not a pool
    # child, nor one left by a killed worker.
    parents = [p for p in pids if _parent(p) == sid]
    return parents[0] if len(parents) == 1 else None


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except FileNotFoundError:
        return 0


def _drop_database(name: str) -> None:
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(
        dbname="postgres", user=db["USER"], host=db["HOST"] or None, port=db["PORT"] or None
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.mark.usefixtures("redis_server")
def test_make_run_restarts_a_killed_process_and_ctrl_c_stops_all(tmp_path):
    port, flower = _free_port(), _free_port()
    database = f"{settings.DATABASES['default']['NAME']}_stack"
    suite_redis = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}"
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{database}",
        "CELERY_BROKER_URL": f"{suite_redis}/6",
        "REPLY_REDIS_URL": f"{suite_redis}/7",
        "CACHE_URL": f"{suite_redis}/8",
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",
        "WORKER_CONCURRENCY": "1",
        "FLOWER_PORT": str(flower),
        "FLOWER_BASIC_AUTH": "operator:stack-test",
        "CELERY_LOG_LEVEL": "WARNING",
        "WEB_ACCESS_LOG": "/dev/null",
    }
    log = open(tmp_path / "stack.log", "wb")  # noqa: SIM115 - the stack writes it
    stack = subprocess.Popen(
        [str(ROOT / "scripts" / "run.sh")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # as a terminal's job: Ctrl-C goes to its process group
    )
    url = f"http://127.0.0.1:{port}/healthz"

    def api_up() -> bool:
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        eventually(api_up, timeout=90, interval=0.5, what="the stack's API")
        first = eventually(lambda: _worker(stack.pid, "billing"), timeout=30, what="billing")
        time.sleep(2)  # past supervisord's startsecs: the worker counts as started

        os.kill(first, signal.SIGKILL)
        started = time.monotonic()
        again = eventually(
            lambda: (pid := _worker(stack.pid, "billing")) not in (None, first) and pid,
            timeout=30,
            what="billing to be started again",
        )
        restarted_after = time.monotonic() - started
        time.sleep(3)
        assert _worker(stack.pid, "billing") == again, "the new billing worker did not stay up"
        assert api_up(), "the API went down with the worker"
        assert stack.poll() is None
        print(f"\nbilling started again {restarted_after:.1f} s after kill -9")

        os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C
        stack.wait(timeout=30)
        eventually(lambda: not _session(stack.pid), timeout=15, what="every process to stop")
        assert not api_up()
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
        for pid in _session(stack.pid):
            os.kill(pid, signal.SIGKILL)
        log.close()
        _drop_database(database)
        shutil.rmtree(ROOT / "var" / f"stack-{port}", ignore_errors=True)
        print((tmp_path / "stack.log").read_text()[-2000:])


def test_make_run_refuses_a_staff_user_it_could_not_make(tmp_path):
    """DJANGO_SUPERUSER_USERNAME without an email address (or a password) is said, not skipped:
    such a user could not join the system, nor log in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SUPERUSER_EMAIL", "DJANGO_SUPERUSER_PASSWORD")
    }
    env |= {"DJANGO_SUPERUSER_USERNAME": "root", "WEB_BIND": f"127.0.0.1:{_free_port()}"}
    result = subprocess.run(
        [str(ROOT / "scripts" / "run.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        check=False,
    )
    assert result.returncode == 2
    assert "DJANGO_SUPERUSER_EMAIL" in result.stderr
