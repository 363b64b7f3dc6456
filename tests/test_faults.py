"""Faults injected into the real stack: killed workers, Redis restarted empty, database
connections cut, a handler that keeps failing. Nothing may be lost or applied twice; each
scenario ends with the design's invariants and prints what happened to the sagas."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.db import connection

from billing.models import LedgerEntry
from kernel.messaging.models import DeadLetter, InboxEvent, OutboxEvent
from notifications.models import Contact, Notification
from orders.models import Order
from tests.flows import balance, customer, db_session, deposit, waiting_on_a_lock
from tests.invariants import saga_report
from tests.support import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live")]


def place_orders(clients, count: int, price: str, *, spread: float = 0.0) -> list[dict]:
    """Place ``count`` orders at once (round robin over the clients); the answers, 201 or 202."""

    def place(i: int) -> dict:
        time.sleep(spread * i / count)
        try:
            response = clients[i % len(clients)].post("/order/", {"price": price}, format="json")
            assert response.status_code in (201, 202), response.content
            return response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=min(count, 25)) as pool:
        return list(pool.map(place, range(count)))


def test_billing_killed_in_the_middle_of_a_debit(api, workers, settings):
    settings.GATEWAY_REPLY_TIMEOUT = 0.5
    alice = customer(api)
    deposit(alice.client, "100.00")
    lock = db_session()
    try:
        with lock.cursor() as cursor:  # billing's debit will wait on the account's row lock
            cursor.execute(
                "SELECT 1 FROM billing_account WHERE user_id = %s FOR UPDATE", [alice.user_id]
            )
        placed = alice.client.post("/order/", {"price": "30.00"}, format="json")
        assert placed.status_code == 202
        eventually(lambda: waiting_on_a_lock("billing"), what="billing to be mid-debit")
        workers.stop("billing", sig=9)
    finally:
        lock.rollback()
        lock.close()
    workers.start("billing")

    order = eventually(
        lambda: Order.objects.filter(status="confirmed").first(),
        timeout=30,
        what="the debit to be delivered again and the order confirmed",
    )
    assert str(order.id) == placed.json()["id"]
    assert LedgerEntry.objects.filter(kind="debit").count() == 1
    assert balance(alice.client) == Decimal("70.00")
    saga_report("billing killed mid-debit")


def test_orders_killed_in_the_middle_of_a_confirmation(api, workers, settings):
    settings.GATEWAY_REPLY_TIMEOUT = 0.5
    alice = customer(api)
    deposit(alice.client, "100.00")
    account_lock, order_lock = db_session(), db_session()
    try:
        with account_lock.cursor() as cursor:  # hold billing back until the order row is held
            cursor.execute(
                "SELECT 1 FROM billing_account WHERE user_id = %s FOR UPDATE", [alice.user_id]
            )
        placed = alice.client.post("/order/", {"price": "30.00"}, format="json")
        order_id = placed.json()["id"]
        eventually(lambda: Order.objects.filter(pk=order_id).exists(), what="the order")
        with order_lock.cursor() as cursor:
            cursor.execute("SELECT 1 FROM orders_order WHERE id = %s FOR UPDATE", [order_id])
        account_lock.rollback()  # billing debits; orders waits on the order row to confirm it
        eventually(lambda: waiting_on_a_lock("orders"), what="orders to be mid-confirmation")
        workers.stop("orders", sig=9)
    finally:
        account_lock.rollback()
        account_lock.close()
        order_lock.rollback()
        order_lock.close()
    workers.start("orders")

    eventually(
        lambda: Order.objects.get(pk=order_id).status == "confirmed",
        timeout=30,
        what="the confirmation to be delivered again",
    )
    assert LedgerEntry.objects.filter(kind="debit").count() == 1
    assert balance(alice.client) == Decimal("70.00")
    report = saga_report("orders killed mid-confirmation")
    assert report["redelivered"] >= 1


def test_redis_restarted_empty_under_load(api, redis_server, workers, settings):
    settings.GATEWAY_REPLY_TIMEOUT = 2.0
    buyers = [customer(api) for _ in range(4)]
    for buyer in buyers:
        deposit(buyer.client, "200.00")
    clients = [buyer.client for buyer in buyers]

    restarted = threading.Timer(0.6, redis_server.restart)
    restarted.start()
    answers = place_orders(clients, 60, "15.00", spread=2.0)
    restarted.join()

    assert len(answers) == 60
    eventually(
        lambda: Order.objects.count() == 60,
        timeout=60,
        what="every order to reach the orders domain",
    )
    report = saga_report("Redis restarted empty under load")
    # Orders whose messages Redis lost may have timed out meanwhile; none may overdraw.
    assert report["outcomes"].get("confirmed", 0) <= 52  # 4 buyers x floor(200 / 15)
    assert sum(report["outcomes"].values()) == 60
    assert all(proc.poll() is None for proc in workers.procs.values()), "a worker died"


def test_database_connections_cut_under_load(api, settings):
    settings.GATEWAY_REPLY_TIMEOUT = 2.0
    buyers = [customer(api) for _ in range(3)]
    for buyer in buyers:
        deposit(buyer.client, "100.00")

    stop = threading.Event()

    def cut() -> None:
        killer = db_session()
        killer.autocommit = True
        with killer.cursor() as cursor:
            while not stop.wait(0.15):
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name LIKE 'worker-%%'"
                )
        killer.close()

    cutter = threading.Thread(target=cut)
    cutter.start()
    try:
        place_orders([b.client for b in buyers], 30, "10.00", spread=1.5)
    finally:
        stop.set()
        cutter.join()

    report = saga_report("database connections cut under load")
    assert report["outcomes"] == {"confirmed": 30}
    assert report["retried"] > 0


@contextmanager
def backend_terminated_before(statement: str):
    """While in effect, the first SQL statement of this process's connection that starts with
    ``statement`` finds its PostgreSQL backend terminated (pg_terminate_backend, from a session
    of its own), as a restart or a failover would leave it."""
    fired = threading.Event()

    def terminate(execute, sql, params, many, context):
        if not fired.is_set() and sql.lstrip().upper().startswith(statement):
            fired.set()
            pid = context["connection"].connection.info.backend_pid
            killer = db_session()
            killer.autocommit = True
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            killer.close()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(terminate):
        yield fired


def test_an_order_whose_connection_dies_before_writing_is_run_again(api):
    alice = customer(api)
    deposit(alice.client, "50.00")
    with backend_terminated_before('INSERT INTO "GATEWAY_ORDERREQUEST"') as fired:
        placed = alice.client.post("/order/", {"price": "10.00"}, format="json")
    assert fired.is_set()
    assert placed.status_code == 201, placed.content
    assert placed.json()["status"] == "confirmed"
    assert Order.objects.filter(user_id=alice.user_id).count() == 1
    assert balance(alice.client) == Decimal("40.00")


def test_an_order_whose_connection_dies_after_writing_is_503_with_retry_after(api):
    alice = customer(api)
    deposit(alice.client, "50.00")
    first = alice.client.post(
        "/order/", {"price": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="once"
    )
    assert first.status_code == 201, first.content
    # A repeat of the key has committed its claim on the key (a write, even when it finds the
    # first's) and dies reading the first's answer: the API process cannot tell what its
    # commit did, so running it again is not for it to decide.
    with backend_terminated_before('SELECT "GATEWAY_OPERATION"') as fired:
        placed = alice.client.post(
            "/order/", {"price": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="once"
        )
    assert fired.is_set()
    assert placed.status_code == 503, placed.content
    assert placed["Retry-After"] == "1"
    assert placed.json() == {
        "error": {
            "code": "database_unavailable",
            "message": "The database did not answer; try again shortly.",
        }
    }
    # Retried with its key, as the answer invites: the same order, placed once.
    again = alice.client.post(
        "/order/", {"price": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="once"
    )
    assert again.status_code == 201, again.content
    assert again.json() == first.json()
    assert Order.objects.filter(user_id=alice.user_id).count() == 1
    assert balance(alice.client) == Decimal("40.00")


def test_a_handler_that_keeps_failing_is_dead_lettered_and_replayable(api, admin_client):
    alice = customer(api)
    deposit(alice.client, "100.00")
    ghost = customer(api)
    # The ghost's contact is lost: notifications fails on every letter for them.
    Contact.objects.filter(user_id=ghost.user_id).delete()
    deposit(ghost.client, "10.00")

    ghost_order = ghost.client.post("/order/", {"price": "5.00"}, format="json").json()
    other = alice.client.post("/order/", {"price": "20.00"}, format="json").json()

    assert other["status"] == "confirmed"  # the rest of the traffic goes on
    eventually(
        lambda: Notification.objects.filter(reference=other["id"]).exists(),
        what="the letter of the healthy order",
    )
    letter = eventually(
        lambda: DeadLetter.objects.filter(consumer="notifications", reason="failed").first(),
        timeout=30,
        what="the failing letter to become a dead letter",
    )
    assert letter.event_type == "OrderConfirmed"
    assert letter.attempts == settings.DELIVERY_MAX_RETRIES + 1
    page = admin_client.get("/admin/kernel/deadletter/")
    assert page.status_code == 200 and b"OrderConfirmed" in page.content

    # An operator repairs the data, then replays the message from the admin.
    Contact.objects.create(user_id=ghost.user_id, username=ghost.username, email=ghost.email)
    replay = {"action": "replay_selected", "_selected_action": [letter.pk]}
    asked = admin_client.post("/admin/kernel/deadletter/", replay)
    assert asked.status_code == 200 and str(letter.event_id) in asked.content.decode()
    response = admin_client.post("/admin/kernel/deadletter/", replay | {"confirmed": "yes"})
    assert response.status_code == 302
    eventually(
        lambda: Notification.objects.filter(reference=ghost_order["id"]).exists(),
        what="the replayed letter",
    )
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    report = saga_report("a handler that keeps failing")
    assert report["retried"] >= settings.DELIVERY_MAX_RETRIES + 1


def test_an_answer_the_broker_lost_reaches_its_request_all_the_same(api, workers, settings):
    """The gateway applies answers through the inbox like any consumer, so the outbox sweep sends
    an answer again that Redis lost: the request answered 202 gets its outcome."""
    settings.GATEWAY_REPLY_TIMEOUT = 0.5
    alice = customer(api)
    workers.stop("gateway")
    try:
        pending = deposit(alice.client, "25.00", expect=202)
        eventually(lambda: balance(alice.client) == Decimal("25.00"), what="billing's credit")
        # Billing's answer waits in the gateway's queue; the broker loses it.
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("gateway")
    finally:
        workers.start("gateway")

    outcome = eventually(
        lambda: (
            (body := alice.client.get(pending["operation"]).json())["status"] != "pending" and body
        ),
        timeout=30,
        what="the answer to be sent again",
    )
    assert outcome["status"] == "succeeded"
    assert outcome["result"]["balance"] == "25.00"
    answer = OutboxEvent.objects.get(type="TransactionCreated")
    assert InboxEvent.objects.filter(consumer="gateway", event_id=answer.id).exists()
    alice.client.post("/order/", {"price": "5.00"}, format="json")  # the report needs an order
    report = saga_report("an answer the broker lost")
    assert report["redelivered"] >= 1
