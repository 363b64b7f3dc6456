"""Flower as the operator uses it, started the one way every deployment starts it
(``scripts/entrypoint.sh flower``) against the session's Redis and workers: its Broker tab and
API know the broker and list the domain queues; its task list shows the deliveries, while beat's
housekeeping (the relay every second here) runs on and stays out of it."""

import os
import re
import subprocess
import sys

import requests
from django.conf import settings

from gateway_django.celery import app
from tests.flows import customer, deposit, order
from tests.support import FLOWER_AUTH, ROOT, eventually

AUTH = FLOWER_AUTH
HOUSEKEEPING = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def test_flowers_broker_tab_lists_the_domain_queues_with_their_lengths(flower):
    lengths = requests.get(flower + "api/queues/length", auth=AUTH, timeout=10)

    assert lengths.status_code == 200, lengths.text  # not "'redis' broker is not supported"
    queues = {queue["name"]: queue["messages"] for queue in lengths.json()["active_queues"]}
    assert set(settings.DOMAIN_QUEUES) <= set(queues)
    assert all(isinstance(n, int) and n >= 0 for n in queues.values())
    page = requests.get(flower + "broker", auth=AUTH, timeout=10)
    assert page.status_code == 200
    for queue in settings.DOMAIN_QUEUES:
        assert f">{queue}<" in page.text, queue


def _tasks(flower: str) -> list[str]:
    answer = requests.get(flower + "api/tasks", auth=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return [task["name"] for task in answer.json().values()]


def test_flowers_task_list_shows_deliveries_and_not_housekeeping(flower, api, workers):
    alice = customer(api)

    def delivery_seen() -> bool:
        # Flower asks the workers for task events every few seconds; from then on they come.
        deposit(alice.client, "10.00")
        return "kernel.deliver" in _tasks(flower)

    eventually(delivery_seen, timeout=60, interval=1, what="Flower to see a delivery")
    log = workers.logdir / "gateway.log"
    seen = log.stat().st_size

    # The relay runs every second here; wait until it has run with task events on.
    def relayed_since() -> bool:
        with log.open("rb") as lines:
            lines.seek(seen)
            return re.search(rb"kernel\.relay_outbox\[[^\]]+\] succeeded", lines.read()) is not None

    eventually(relayed_since, timeout=30, what="the relay to run")
    before = _tasks(flower).count("kernel.deliver")
    order(alice.client, "10.00")
    names = eventually(
        lambda: (names := _tasks(flower)) and names.count("kernel.deliver") >= before + 5 and names,
        what="Flower to see the saga's deliveries",
    )  # the order's request, debit, answer, and its confirmation to notifications and gateway

    assert not HOUSEKEEPING & set(names), sorted(set(names))


def test_every_task_beat_runs_is_housekeeping_that_sends_no_task_events():
    app.loader.import_default_modules()  # every app's tasks, as a worker loads them
    assert "kernel.relay_outbox" in HOUSEKEEPING
    for name in HOUSEKEEPING:
        assert app.tasks[name].send_events is False, name
    assert app.tasks["kernel.deliver"].send_events is True


def test_every_task_is_routed_by_the_settings_not_by_its_deprecated_queue_attribute():
    # Celery deprecates a task's own `queue` (it warns on every use and goes in 6.0).
    app.loader.import_default_modules()
    project = [name for name in app.tasks if not name.startswith("celery.")]
    assert "orders.expire_pending" in project
    assert [name for name in project if getattr(app.tasks[name], "queue", None)] == []
    for name in project:
        if name.startswith(("gateway.", "orders.", "notifications.")):
            assert app.amqp.router.route({}, name)["queue"].name == name.split(".")[0], name


def test_flower_asks_for_task_events_only_where_the_settings_send_them():
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_ENABLE_EVENTS"}
    asks = {}
    for module in ("gateway_django.settings.test", "gateway_django.settings.local"):
        shown = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, gateway_django.flower; print(os.environ['FLOWER_ENABLE_EVENTS'])",
            ],
            env=env | {"DJANGO_SETTINGS_MODULE": module},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        asks[module.rsplit(".", 1)[1]] = shown.stdout.strip()
    assert asks == {"test": "false", "local": "true"}  # production: as test, off
