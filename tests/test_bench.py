"""`make bench` still runs from start to end: a short run of the real benchmark, on a stack
and database of its own and on Redis databases of the suite's own Redis server (never the
shared one, whose databases the benchmark empties). It asserts what the run found, not its
speed."""

import json
import socket
import subprocess
import sys

import pytest
import redis
from django.conf import settings

from tests.support import ROOT


def _free_port_pair() -> int:
    """A port whose next one is free too (the stack's Flower takes it), and the two 20 above
    (the second stack of --telemetry)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 21 > 65535:
            continue
        taken = False
        for other in (port + 1, port + 20, port + 21):
            with socket.socket() as probe:
                taken = taken or probe.connect_ex(("127.0.0.1", other)) == 0
        if not taken:
            return port
    raise RuntimeError("no free pair of ports")


def _port_was_taken(run: subprocess.CompletedProcess, port: int) -> bool:
    logs = [ROOT / "var" / f"bench-stack-{stack}.log" for stack in (port, port + 20)]
    said = run.stdout + run.stderr
    said += "".join(log.read_text(errors="replace") for log in logs if log.exists())
    return "is taken" in said or "Address already in use" in said


def _bench(tmp_path, args: dict) -> subprocess.CompletedProcess:
    """Run the benchmark with ``args``; a run whose port another process took is run again."""
    # A port found free may be taken before the stack binds it (another process on a busy
    # machine): that run proves nothing either way, and is run again on other ports.
    for _ in range(3):
        port = _free_port_pair()
        run = subprocess.run(
            [sys.executable, "scripts/bench.py", "--no-progress", "--port", str(port)]
            + [str(part) for pair in args.items() for part in pair if part != ""],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=840,
        )
        if run.returncode == 0 or not _port_was_taken(run, port):
            break
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def test_a_short_benchmark_runs_through_and_finds_nothing_lost(tmp_path, redis_server):
    suite_redis = f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}"
    args = {
        "--clients": 4,
        "--duration": 3,
        "--warmup": 1,
        "--users": 4,
        "--unloaded": 3,
        "--database": "order_platform_bench_smoke",
        "--redis": suite_redis,
        "--redis-dbs": "9,10,11",
        "--bare-redis-db": 12,
        "--out": tmp_path,
    }
    run = _bench(tmp_path, args)
    (result_file,) = tmp_path.glob("bench-*.json")
    result = json.loads(result_file.read_text())

    for phase in ("bare", "ceiling", "saga", "steady"):
        assert result[phase]["completed"] > 0, phase
        assert result[phase]["errors"] == {}, phase
    assert set(result["saga"]["outcomes"]) <= {"confirmed", "rejected"}
    assert result["invariants"]["lost"] == 0
    assert "targets:" in run.stdout
    assert result["unloaded"]["bare"]["completed"] > 0
    assert set(result["ratios"]) >= {"throughput_ceiling_over_bare", "throughput_saga_over_bare"}
    # Its broker was the suite's Redis: the queues it declared are there.
    assert redis.Redis.from_url(f"{suite_redis}/9").keys("_kombu.binding.*")


NONE_KEPT = "METRICS_ENABLED=false+OTEL_EXPORTER_OTLP_ENDPOINT=sink+OTEL_TRACES_SAMPLER_ARG=0"


# Four stacks, two at a time: longer than the suite's 300 s limit on a busy machine.
@pytest.mark.timeout(900)
def test_the_telemetry_benchmark_measures_each_setting_and_traces_reach_its_collector(
    tmp_path, redis_server
):
    run = _bench(
        tmp_path,
        {
            "--telemetry": "",
            # One of its own settings, and one given whole: tracing on, no trace kept.
            "--settings": f"metrics+tracing,none kept:{NONE_KEPT}",
            "--rounds": 1,
            "--clients": 4,
            "--duration": 3,
            "--warmup": 1,
            "--users": 4,
            "--unloaded": 3,
            "--database": "order_platform_bench_smoke",
            "--redis": f"redis://127.0.0.1:{settings.TEST_REDIS_PORT}",
            "--redis-dbs": "9,10,11",
            "--bare-redis-db": 12,
            "--paired-redis-dbs": "13,14,15",
            "--out": tmp_path,
        },
    )
    (result_file,) = tmp_path.glob("telemetry-*.json")
    result = json.loads(result_file.read_text())

    # Each setting ran beside telemetry off, both stacks loaded at once.
    assert set(result["runs"]) == {"metrics+tracing", "none kept"}
    assert result["settings"]["none kept"]["OTEL_TRACES_SAMPLER_ARG"] == "0"
    for name, (only,) in result["runs"].items():
        assert only["per_second"] > 0 and only["off_per_second"] > 0, name
        assert only["errors"] == 0, name
        # The CPU each stack used a saga, read from its processes: the API's and the workers'.
        for side in ("", "off_"):
            roles = only[f"{side}cpu_ms_per_saga_by_role"]
            assert roles["web"] > 0 and roles["worker orders"] > 0, (name, side, roles)
            assert only[f"{side}cpu_ms_per_saga"] >= roles["web"] + roles["worker orders"]
    # Spans left the stack that keeps traces, and none the stack whose share is none.
    assert result["runs"]["metrics+tracing"][0]["exported_bytes"] > 0
    assert result["runs"]["none kept"][0]["exported_bytes"] == 0
    assert "met      spans reached the collector" in run.stdout
