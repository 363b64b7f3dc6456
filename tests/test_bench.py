"""`make bench` still runs from start to end: a short run of the real benchmark, on a stack
and database of its own and on Redis databases of the suite's own Redis server (never the
shared one, whose databases the benchmark empties). It asserts what the run found, not its
speed."""

import json
import socket
import subprocess
import sys

import redis
from django.conf import settings

from conftest import ROOT


def _free_port_pair() -> int:
    """A port whose next one is free too (the stack's Flower takes it)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port
    raise RuntimeError("no free pair of ports")


def test_a_short_benchmark_runs_through_and_finds_nothing_lost(tmp_path, redis_server):
    suite_redis = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}"
    args = {
        "--clients": 4,
        "--duration": 3,
        "--warmup": 1,
        "--users": 4,
        "--unloaded": 3,
        "--port": _free_port_pair(),
        "--database": "order_platform_bench_smoke",
        "--redis": suite_redis,
        "--redis-dbs": "9,10,11",
        "--out": tmp_path,
    }
    run = subprocess.run(
        [sys.executable, "scripts/bench.py", "--no-progress"]
        + [str(part) for pair in args.items() for part in pair],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (result_file,) = tmp_path.glob("bench-*.json")
    result = json.loads(result_file.read_text())

    for phase in ("ceiling", "saga", "steady"):
        assert result[phase]["completed"] > 0, phase
        assert result[phase]["errors"] == {}, phase
    assert set(result["saga"]["outcomes"]) <= {"confirmed", "rejected"}
    assert result["invariants"]["lost"] == 0
    assert "targets:" in run.stdout
    # Its broker was the suite's Redis: the queues it declared are there.
    assert redis.Redis.from_url(f"{suite_redis}/9").keys("_kombu.binding.*")
