"""What scripts/containers.sh runs is the chart's, checked offline: scripts/chart_containers.py
turns the rendered chart into container runs, and a run must keep every promise of the chart
(the engine itself is exercised by `make containers`)."""

import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings

from scripts.chart_containers import lines, render, values_for

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT, FLOWER_PORT = 18123, 18124


@pytest.fixture(scope="module")
def plan() -> dict[str, dict]:
    values = values_for(
        image="order-platform:test",
        database_url="postgres://postgres@127.0.0.1:5432/somewhere",
        redis_url="redis://127.0.0.1:16379",
        web_port=WEB_PORT,
        flower_port=FLOWER_PORT,
    )
    runs = {}
    for line in lines(render(values)):
        name, kind, args, ready, live, startup = line.split("\t")
        runs[name] = {
            "kind": kind,
            "args": shlex.split(args),
            "ready": shlex.split(ready),
            "live": shlex.split(live),
            "startup": int(startup),
        }
    return runs


def env_of(run: dict) -> dict[str, str]:
    pairs = (a.removeprefix("--env=").split("=", 1) for a in run["args"] if a.startswith("--env="))
    return dict(pairs)


def test_the_migrations_first_then_every_role_after_its_init_container(plan):
    names = list(plan)
    assert names[0] == "migrate" and plan["migrate"]["kind"] == "job"
    mains = {name for name, run in plan.items() if run["kind"] == "main"}
    assert mains == {"web", "beat", "flower"} | {f"worker-{q}" for q in settings.DOMAIN_QUEUES}
    for name in mains - {"flower"}:  # Flower reads the broker only
        assert names.index(f"{name}-wait-for-migrations") == names.index(name) - 1
    for queue in settings.DOMAIN_QUEUES:
        assert plan[f"worker-{queue}"]["args"][-2:] == ["worker", queue]


def test_every_run_is_locked_down_as_the_chart_says(plan):
    for name, run in plan.items():
        args = run["args"]
        assert "--user=10001:10001" in args, name
        assert "--read-only" in args and "--cap-drop=all" in args, name
        assert "--security-opt=no-new-privileges" in args, name
        tmpfs = [a for a in args if a.startswith("--tmpfs=")]
        assert [a.split("=", 1)[1].split(":")[0] for a in tmpfs] == ["/tmp"], name
        assert any(a.startswith("--memory=") for a in args), name
        assert args[args.index("order-platform:test") - 1].startswith("--env="), name


def test_the_probes_are_the_charts(plan):
    assert plan["web"]["ready"] == ["http", str(WEB_PORT), "/readyz"]
    assert plan["web"]["live"] == ["http", str(WEB_PORT), "/healthz"]
    assert plan["flower"]["ready"] == ["tcp", str(FLOWER_PORT)]
    for name in ["beat", *(f"worker-{q}" for q in settings.DOMAIN_QUEUES)]:
        assert plan[name]["ready"] == ["exec", "/app/scripts/entrypoint.sh", "healthcheck"]
        assert plan[name]["startup"] >= 60
        assert env_of(plan[name])["HEARTBEAT_FILE"].startswith("/tmp/")
    # Reached on the machine's loopback, never on its other interfaces.
    assert env_of(plan["web"])["WEB_BIND"] == f"127.0.0.1:{WEB_PORT}"


def test_the_image_installs_what_uv_lock_pins_with_the_same_uv():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (makefile_uv,) = re.findall(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert f"ARG UV_VERSION={makefile_uv}\n" in dockerfile
    assert "COPY pyproject.toml uv.lock ./" in dockerfile
    assert "uv export --frozen" in dockerfile and "--require-hashes" in dockerfile
