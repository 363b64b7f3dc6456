"""Metrics: counted where the work happens, served by every process as it is deployed, added up
across the processes of one API or worker, and nothing on the dashboard or in the alerts that
the processes do not expose."""

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import OpenOperationsCollector
from kernel.telemetry import collectors, metrics
from tests.flows import customer, deposit, order
from tests.support import ROOT, eventually
from tests.test_web_server import gunicorn

FILES = ROOT / "charts" / "order-platform" / "files"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples with these labels (others may differ)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return parse(answer.read().decode())


@pytest.mark.workers
def test_a_saga_moves_the_counters_of_every_process_that_played_it(live, api):
    ports = live.metrics_ports
    before = {name: scrape(ports[name]) for name in ("gateway", "billing", "orders")}
    api_before = parse(api.get("/metrics").content.decode())

    buyer = customer(api)
    deposit(buyer.client, "30.00")
    assert order(buyer.client, "25.00")["status"] == "confirmed"
    rejected = order(buyer.client, "25.00")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "insufficient_funds")

    # The API: its requests by route (the pattern, not the path) and status.
    api_after = parse(api.get("/metrics").content.decode())
    orders_posted = dict(name="http_requests_total", method="POST", route="/order/", status="201")
    assert value(api_after, **orders_posted) - value(api_before, **orders_posted) == 2
    timed = dict(name="http_request_duration_seconds_count", method="POST", route="/order/")
    assert value(api_after, **timed) - value(api_before, **timed) == 2

    def moved(worker: str, name: str, **labels: str) -> float:
        return value(scrape(ports[worker]), name, **labels) - value(before[worker], name, **labels)

    expected = [
        ("orders", "messaging_deliveries_total", {"event_type": "OrderRequested"}, 2),
        ("orders", "orders_saga_outcomes_total", {"outcome": "confirmed", "reason": ""}, 1),
        (
            "orders",
            "orders_saga_outcomes_total",
            {"outcome": "rejected", "reason": "insufficient_funds"},
            1,
        ),
        # Occurred to applied, once per applied event.
        ("orders", "messaging_event_lag_seconds_count", {"event_type": "TransactionCompleted"}, 1),
        ("orders", "messaging_event_lag_seconds_count", {"event_type": "TransactionFailed"}, 1),
        # The deposit and the two debits.
        ("billing", "messaging_deliveries_total", {"event_type": "TransactionRequested"}, 3),
        ("billing", "messaging_event_lag_seconds_count", {"event_type": "TransactionRequested"}, 3),
        ("gateway", "messaging_deliveries_total", {"event_type": "OrderConfirmed"}, 1),
        ("gateway", "messaging_deliveries_total", {"event_type": "OrderRejected"}, 1),
    ]
    for worker, name, labels, count in expected:
        labels = {"consumer": worker, **labels} if name.startswith("messaging_") else labels
        if name == "messaging_deliveries_total":
            labels["result"] = "applied"
        eventually(
            lambda w=worker, n=name, ls=labels, c=count: moved(w, n, **ls) >= c,
            what=f"{worker}: {name} {labels} +{count}",
        )
        assert moved(worker, name, **labels) == count, (worker, name, labels)

    # Beat: what the database and the broker know, read when scraped.
    beat = scrape(ports["beat"])
    from django.conf import settings

    for queue in settings.DOMAIN_QUEUES:
        assert ("messaging_queue_length", frozenset({("queue", queue)})) in beat
        assert ("messaging_dead_letters_open", frozenset({("consumer", queue)})) in beat
    for gauge in (
        "messaging_outbox_unsent",
        "messaging_outbox_unsettled",
        "messaging_outbox_oldest_unsent_age_seconds",
        "gateway_operations_open",
    ):
        assert (gauge, frozenset()) in beat, gauge


def _run(code: str, metrics_dir: Path) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    setup = "import django; django.setup(); from kernel.telemetry import metrics\n"
    result = subprocess.run(
        [sys.executable, "-c", setup + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_processes_of_one_worker_are_added_up(tmp_path):
    message = {"type": "TransactionRequested", "occurred_at": "2025-01-01T00:00:00Z"}
    for times in (2, 3):  # two pool processes, each counting its own, then gone
        _run(
            f"for _ in range({times}): metrics.delivered('billing', {message!r}, applied=True)",
            tmp_path,
        )
    assert len(list(tmp_path.glob("counter_*.db"))) == 2

    served = parse(
        _run(
            "from prometheus_client import generate_latest\n"
            "print(generate_latest(metrics.registry()).decode())",
            tmp_path,
        )
    )
    labels = {"consumer": "billing", "event_type": "TransactionRequested"}
    assert value(served, "messaging_deliveries_total", result="applied", **labels) == 5
    assert value(served, "messaging_event_lag_seconds_count", **labels) == 5


@pytest.mark.django_db
def test_the_api_processes_of_one_pod_answer_for_all_of_them(tmp_path):
    """gunicorn with two processes, as deployed: /metrics counts the requests of both, and
    wants its token."""
    token = "metrics-" + uuid.uuid4().hex
    with gunicorn(WEB_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(tmp_path), METRICS_TOKEN=token) as (
        url,
        http,
        _log,
    ):
        for _ in range(20):
            assert http.request("GET", f"{url}/", headers={"Connection": "close"}).status == 200
        assert http.request("GET", f"{url}/metrics").status == 401
        wrong = http.request("GET", f"{url}/metrics", headers={"Authorization": "Bearer no"})
        assert wrong.status == 401
        answer = http.request("GET", f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert answer.status == 200
        served = parse(answer.data.decode())
    assert value(served, "http_requests_total", method="GET", route="/", status="200") == 20


@pytest.mark.django_db
def test_requests_are_counted_by_route_never_by_path(api):
    before = parse(api.get("/metrics").content.decode())
    for _ in range(2):
        assert api.get(f"/order/{uuid.uuid4()}/").status_code == 401
    assert api.get(f"/no-such-thing/{uuid.uuid4()}/").status_code == 404
    assert api.generic("BREW", "/order/").status_code in (401, 405)
    after = parse(api.get("/metrics").content.decode())
    routes = {dict(labels).get("route") for name, labels in after if name == "http_requests_total"}
    assert not any(uuid_like for uuid_like in routes if re.search(r"[0-9a-f]{8}-", uuid_like))
    detail = dict(method="GET", route="/order/<uuid:order_id>/", status="401")
    assert (
        value(after, "http_requests_total", **detail)
        - value(before, "http_requests_total", **detail)
        == 2
    )
    unmatched = dict(route="unmatched", status="404")
    assert value(after, "http_requests_total", **unmatched) > value(
        before, "http_requests_total", **unmatched
    )
    assert value(after, "http_requests_total", method="other") >= 1


@pytest.mark.django_db
def test_metrics_wants_get_and_its_token_and_can_be_switched_off(api, settings):
    assert api.post("/metrics").status_code == 405
    settings.METRICS_TOKEN = "s3cret-token"
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    settings.METRICS_ENABLED = False
    response = api.get("/metrics")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_the_scrape_time_gauges_read_partial_indexes():
    """Cheap whatever the tables hold: with sequential scans priced out, each query of beat's
    gauges still has a plan, and it reads an index."""
    with CaptureQueriesContext(connection) as queries:
        for collector in (
            collectors.OutboxCollector(),
            collectors.DeadLetterCollector(),
            OpenOperationsCollector(),
        ):
            list(collector.collect())
    assert len(queries) == 4
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan and "Index" in plan, (query["sql"], plan)


# --- what the dashboard and the alerts read -----------------------------------------------------

_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "bool", "and", "or", "unless", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions,
    keywords, label names or matchers, durations or strings."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = _GROUPINGS.sub("", expr)
    return {
        match[1]
        for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", expr)
        if not match[2] and match[1] not in _KEYWORDS
    }


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((FILES / "order-platform-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((FILES / "alerts.yaml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def exposed() -> set[str]:
    import kernel.telemetry.http  # noqa: F401 - the API's own metrics
    import orders.metrics  # noqa: F401

    metrics.load_scraped()
    return metrics.exposed_names()


def test_the_dashboard_and_the_alerts_read_only_metrics_that_exist():
    names = exposed()
    assert {"http_requests_total", "messaging_event_lag_seconds_bucket"} <= names
    assert (
        metric_names('sum(rate(messaging_deliverys_total{a="b"}[5m])) by (x)')
        == {
            "messaging_deliverys_total"  # a typo is found, and is not among the names
        }
        and "messaging_deliverys_total" not in names
    )
    exprs = dashboard_exprs() + alert_exprs()
    assert len(exprs) >= 15
    for expr in exprs:
        read = metric_names(expr)
        assert read, expr
        assert read <= names, (expr, read - names)
    # What the issue asks to see and to be told of.
    panels = " ".join(dashboard_exprs())
    for name in (
        "orders_saga_outcomes_total",
        "messaging_event_lag_seconds_bucket",
        "messaging_queue_length",
        "messaging_outbox_oldest_unsent_age_seconds",
        "messaging_dead_letters_open",
    ):
        assert name in panels, name
    alerts = {
        rule["alert"]
        for g in yaml.safe_load((FILES / "alerts.yaml").read_text())["groups"]
        for rule in g["rules"]
    }
    assert {"DeadLettersOpen", "OutboxUnsentTooOld", "SagaTimeoutsRising"} <= alerts


def test_the_rules_and_the_dashboard_queries_are_valid_promql(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: the prometheus package; .ci/run has it)")
    check = [promtool, "check", "rules"]
    result = subprocess.run(
        [*check, str(FILES / "alerts.yaml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The dashboard's queries, with Grafana's variable given a value, as recording rules.
    rules = [
        {"record": f"dashboard:query{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([*check, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
