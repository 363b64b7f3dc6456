"""The history checker (issue 15): clients perform a random, seeded mix of requests through the
HTTP API while a seeded schedule of faults hits the workers, Redis and PostgreSQL; every request
and answer is recorded with its times. When the faults have stopped and the system is quiet, the
whole history and the final state are checked. A violation is reported with the seed and the
smallest part of the history that shows it.

Used by tests/test_history.py (a few short seeds in `make test`) and, for a longer run by hand,
by `make check-history ARGS="--seconds 600 --seed N"` (scripts/check_history.py)."""

import random
import signal
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from tests.flows import PASSWORD, Customer, customer, db_session, unique_name

ZERO = Decimal("0.00")
AMOUNTS = ("5.00", "10.00", "25.00", "40.00")
PRICES = ("5.00", "15.00", "30.00", "60.00")
# What the clients do, and how often (weights).
MIX = {
    "register": 1,
    "deposit": 4,
    "order": 5,
    "order-key": 2,
    "order-replay": 2,
    "cancel": 2,
    "balance": 3,
    "ledger": 1,
    "orders": 1,
    "operation": 2,
}


@dataclass
class Call:
    """One request of the history and its answer; ``status`` None: the connection dropped (the
    request raised instead of answering)."""

    n: int
    client: int
    user: str
    op: str
    method: str
    path: str
    body: dict | None
    key: str | None
    start: float
    end: float
    status: int | None
    answer: Any

    def __str__(self) -> str:
        key = f" key={self.key}" if self.key else ""
        body = f" {self.body}" if self.body else ""
        return (
            f"#{self.n} [{self.start:7.3f}-{self.end:7.3f}] client {self.client} {self.user} "
            f"{self.op}: {self.method} {self.path}{body}{key} -> {self.status} {self.answer}"
        )


@dataclass
class Fault:
    at: float
    kind: str
    target: str
    until: float = 0.0

    def __str__(self) -> str:
        return f"[{self.at:7.3f}-{self.until:7.3f}] fault {self.kind} {self.target}"


@dataclass
class History:
    seed: int
    started: float = field(default_factory=time.monotonic)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    buyers: dict[str, Customer] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.started

    def call(
        self,
        client: int,
        user: str,
        api: APIClient,
        op: str,
        method: str,
        path: str,
        body: dict | None = None,
        key: str | None = None,
    ) -> Call:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        start = self.now()
        try:
            if method == "GET":
                response = api.get(path)
            else:
                response = api.post(path, body or {}, format="json", **headers)
            status, answer = response.status_code, _json(response)
        except Exception as exc:  # the client sees a dropped connection
            status, answer = None, f"{type(exc).__name__}: {exc}"
        with self.lock:
            call = Call(
                len(self.calls), client, user, op, method, path, body, key, start, self.now(),
                status, answer,
            )  # fmt: skip
            self.calls.append(call)
        return call


def _json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:
        return response.content[:200]


def _path(url: str) -> str:
    return urlparse(url).path


# -- the clients ------------------------------------------------------------------------------


@dataclass
class Known:
    """What a client learnt from its answers: orders, operations, keys and their bodies."""

    orders: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    keys: dict[str, dict] = field(default_factory=dict)


def run_client(
    index: int, rng: random.Random, buyers: list[Customer], history: History, stop: threading.Event
) -> None:
    known = {buyer.username: Known() for buyer in buyers}
    ops, weights = list(MIX), list(MIX.values())
    try:
        while not stop.is_set():
            buyer = rng.choice(buyers)
            mine = known[buyer.username]
            op = rng.choices(ops, weights)[0]
            call = _perform(index, rng, buyer, mine, op, history)
            if call is not None and call.status in (200, 201, 202) and call.method == "POST":
                answer = call.answer if isinstance(call.answer, dict) else {}
                if call.op.startswith("order") and "id" in answer:
                    mine.orders.append(answer["id"])
                if call.status == 202 and "operation" in answer and op != "register":
                    mine.operations.append(_path(answer["operation"]))
            time.sleep(rng.uniform(0.05, 0.25))
    finally:
        connection.close()


def _perform(
    index: int, rng: random.Random, buyer: Customer, mine: Known, op: str, history: History
) -> Call | None:
    c, u = buyer.client, buyer.username
    if op == "register":
        name = unique_name("h")
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        body["first_name"] = "Ada"
        return history.call(index, u, APIClient(), op, "POST", "/register/", body)
    if op == "deposit":
        return history.call(
            index, u, c, op, "POST", "/transaction/", {"amount": rng.choice(AMOUNTS)}
        )
    if op == "order-replay" and mine.keys:
        key = rng.choice(sorted(mine.keys))
        return history.call(index, u, c, op, "POST", "/order/", mine.keys[key], key)
    if op in ("order", "order-key", "order-replay"):
        body = {"price": rng.choice(PRICES), "description": f"item {rng.randrange(1000)}"}
        key = None
        if op != "order":
            key = f"k{history.seed}-{rng.getrandbits(48):x}"
            mine.keys[key] = body
        return history.call(index, u, c, "order", "POST", "/order/", body, key)
    if op == "cancel" and mine.orders:
        order_id = rng.choice(mine.orders)
        return history.call(index, u, c, op, "POST", f"/order/{order_id}/cancel/")
    if op == "balance":
        return history.call(index, u, c, op, "GET", "/account/")
    if op == "ledger":
        return history.call(index, u, c, op, "GET", "/transaction/")
    if op == "orders":
        return history.call(index, u, c, op, "GET", "/order/")
    if op == "operation" and mine.operations:
        return history.call(index, u, c, op, "GET", rng.choice(mine.operations))
    return None


# -- the faults -------------------------------------------------------------------------------


def terminate_worker_backends() -> int:
    """Cut every worker's PostgreSQL session of this test database (never another database's)."""
    killer = db_session()
    killer.autocommit = True
    try:
        with killer.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'worker-%%'"
            )
            return cursor.fetchone()[0]
    finally:
        killer.close()


def run_faults(
    rng: random.Random, workers: Any, redis_server: Any, history: History, seconds: float
) -> None:
    """Faults at random moments until ``seconds``; once, one domain stopped for longer than the
    saga timeout. Every worker is running again when this returns."""
    domains = [d for d in settings.DOMAIN_QUEUES if d != "gateway"]
    long_stop_at = rng.uniform(seconds * 0.1, seconds * 0.5)
    long_stop_done = False
    while history.now() < seconds - 2:
        time.sleep(rng.uniform(1.5, 4.5))
        if history.now() >= seconds - 2:
            break
        if not long_stop_done and history.now() >= long_stop_at:
            long_stop_done = True
            fault = Fault(history.now(), "stopped past the saga timeout", rng.choice(domains))
            workers.stop(fault.target)
            time.sleep(settings.ORDER_PENDING_TIMEOUT + 3)
            workers.start(fault.target)
        else:
            kind = rng.choice(["kill -9", "kill -9", "redis restarted empty", "pg backends"])
            if kind == "kill -9":
                fault = Fault(history.now(), kind, rng.choice(list(settings.DOMAIN_QUEUES)))
                workers.stop(fault.target, sig=signal.SIGKILL)
                workers.start(fault.target)
            elif kind == "redis restarted empty":
                fault = Fault(history.now(), kind, "redis")
                redis_server.restart()
            else:
                fault = Fault(history.now(), kind, "workers")
                fault.target = f"{terminate_worker_backends()} sessions"
        fault.until = history.now()
        with history.lock:
            history.faults.append(fault)
    connection.close()


def run(
    seed: int, seconds: float, workers: Any, redis_server: Any, clients: int = 3, users: int = 2
) -> History:
    """The random mix and the faults, for ``seconds``; returns the history."""
    rng = random.Random(seed)
    buyers = [[customer(APIClient()) for _ in range(users)] for _ in range(clients)]
    history = History(seed, buyers={b.username: b for group in buyers for b in group})
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=run_client, args=(i, random.Random(rng.random()), buyers[i], history, stop)
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        run_faults(random.Random(rng.random()), workers, redis_server, history, seconds)
        remaining = seconds - history.now()
        if remaining > 0:
            time.sleep(remaining)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return history


# -- the checker ------------------------------------------------------------------------------


@dataclass
class Violation:
    what: str
    calls: list[Call]

    def show(self, history: History) -> str:
        lines = [f"VIOLATION (seed {history.seed}): {self.what}"]
        lines += [f"  {call}" for call in self.calls[:12]]
        if len(self.calls) > 12:
            lines.append(f"  ... and {len(self.calls) - 12} more calls")
        return "\n".join(lines)


def check(history: History) -> list[Violation]:
    """Every rule of issue 15 over the history and the final state (after the sagas settled)."""
    from billing.models import Account, LedgerEntry
    from orders.models import TERMINAL, Order
    from users.models import User

    found: list[Violation] = []
    buyers = history.buyers
    by_user: dict[str, list[Call]] = defaultdict(list)
    for call in history.calls:
        by_user[call.user].append(call)

    accounts = {str(a.user_id): a for a in Account.objects.all()}
    entries: dict[str, list] = defaultdict(list)
    for entry in LedgerEntry.objects.select_related("account"):
        entries[str(entry.account.user_id)].append(entry)
    orders = {str(o.id): o for o in Order.objects.all()}

    for name, buyer in buyers.items():
        calls = by_user[name]
        account, ledger = accounts.get(buyer.user_id), entries[buyer.user_id]
        # Money: balance = deposits - debits + refunds = the ledger's sum.
        kinds = Counter()
        for entry in ledger:
            kinds[entry.kind] += entry.amount
        if account is None or account.balance != sum(kinds.values(), ZERO):
            found.append(Violation(f"{name}: balance {account} != ledger {dict(kinds)}", calls))
        # Every balance read: not negative, and explained by a ledger entry (or none yet).
        explained = {ZERO} | {entry.balance_after for entry in ledger}
        for call in calls:
            if call.op == "balance" and call.status == 200:
                read = Decimal(call.answer["balance"])
                if read < 0 or read not in explained:
                    found.append(Violation(f"{name}: balance read {read} unexplained", [call]))
        # Deposits: every credit the client was told of is in the ledger; a credit it was
        # never told of comes from a request that failed (5xx or dropped), of that amount.
        credited = {str(e.id): e for e in ledger if e.kind == "deposit"}
        told: set[str] = set()
        failed_amounts: list[str] = []
        for call in calls:
            if call.op != "deposit":
                continue
            result = _final(buyer, call)
            if result is None:
                if call.status is None or call.status >= 500:
                    failed_amounts.append(call.body["amount"])
                elif call.status in (201, 202):
                    found.append(Violation(f"{name}: accepted deposit has no outcome", [call]))
                continue
            if result.get("transaction_id"):
                told.add(result["transaction_id"])
                if result["transaction_id"] not in credited:
                    found.append(Violation(f"{name}: deposit answered, not in ledger", [call]))
        for tx, entry in credited.items():
            if tx in told:
                continue
            amount = f"{entry.amount:.2f}"
            if amount in failed_amounts:
                failed_amounts.remove(amount)
            else:
                deposits = [c for c in calls if c.op == "deposit"]
                found.append(
                    Violation(f"{name}: credit {tx} {amount} no request explains", deposits)
                )
        # Orders: every accepted one final and readable; keys: one order, the same answers.
        answered: dict[str, list[Call]] = defaultdict(list)
        failed_orders = 0
        for call in calls:
            if call.op != "order":
                continue
            if call.status == 422:
                found.append(Violation(f"{name}: a key replayed with its body refused", [call]))
            if call.status in (201, 202) and isinstance(call.answer, dict):
                answered[call.answer["id"]].append(call)
            elif call.status is None or call.status >= 500:
                failed_orders += 1
        for order_id, placed in answered.items():
            read = buyer.client.get(f"/order/{order_id}/")
            status = read.json().get("status") if read.status_code == 200 else read.status_code
            if status not in TERMINAL:
                found.append(Violation(f"{name}: order {order_id} reads {status}", placed))
                continue
            for call in placed:
                if call.status == 201 and not _same_outcome(call.answer["status"], status):
                    found.append(
                        Violation(f"{name}: order {order_id} answered, now {status}", placed)
                    )
            for call in placed:
                op = call.answer.get("operation") if call.status == 202 else None
                if op and _final_operation(buyer.client, op) is None:
                    found.append(Violation(f"{name}: /operation/ of an order pending", [call]))
        by_key: dict[str, set] = defaultdict(set)
        for call in calls:
            if call.op == "order" and call.key and call.status in (201, 202):
                by_key[call.key].add(call.answer["id"])
        for key, ids in by_key.items():
            if len(ids) != 1:
                keyed = [c for c in calls if c.key == key]
                found.append(Violation(f"{name}: key {key} gave orders {sorted(ids)}", keyed))
            statuses = {c.answer["status"] for c in calls if c.key == key and c.status == 201}
            if len(statuses) > 1:
                keyed = [c for c in calls if c.key == key]
                found.append(Violation(f"{name}: key {key} answered {statuses}", keyed))
        unknown = [o for o in orders.values() if str(o.user_id) == buyer.user_id]
        unknown = [o for o in unknown if str(o.id) not in answered]
        if len(unknown) > failed_orders:
            found.append(
                Violation(
                    f"{name}: {len(unknown)} orders no answer names, {failed_orders} failed",
                    [c for c in calls if c.op == "order"],
                )
            )
        # Cancels: accepted ones end readable. (A failed read has no effect by construction.)
        for call in calls:
            pending = call.status == 202 and call.op == "cancel"
            if pending and _final_operation(buyer.client, call.answer["operation"]) is None:
                found.append(Violation(f"{name}: /operation/ of a cancel pending", [call]))
    # Registrations: an accepted one is final and readable; a user made exists once.
    users = set(User.objects.values_list("username", flat=True))
    anonymous = APIClient()
    for call in history.calls:
        if call.op != "register":
            continue
        made = call.body["username"] in users
        if call.status == 201 and not made:
            found.append(Violation("registered (201), no such user", [call]))
        elif call.status == 202:
            answer = _final_operation(anonymous, _outcome_url(call))
            if answer is None:
                found.append(Violation("registration's /register/ still pending", [call]))
            elif (answer["status"] == "succeeded") != made:
                found.append(Violation(f"registration says {answer['status']}", [call]))
        elif call.status is not None and call.status < 500 and call.status != 201 and made:
            found.append(Violation("registration refused, user made", [call]))
    return found


def _same_outcome(answered: str, now: str) -> bool:
    return answered == now or (answered == "confirmed" and now == "cancelled")


def _outcome_url(call: Call) -> str:
    """Where the client reads the outcome of its 202: the ``operation`` of the answer
    (/operation/{id}/, or a registration's /register/{id}/, since it has no token yet)."""
    return _path(call.answer["operation"])


def _final_operation(client: APIClient, url: str) -> dict | None:
    response = client.get(_path(url))
    if response.status_code != 200 or response.json()["status"] == "pending":
        return None
    return response.json()


def _final(buyer: Customer, call: Call) -> dict | None:
    """The final answer a client can read of its deposit: the 201's body, or the result of its
    /operation/; None if it has none."""
    if call.status == 201:
        return call.answer
    if call.status == 202:
        answer = _final_operation(buyer.client, call.answer["operation"])
        return (answer or {}).get("result") or ({} if answer else None)
    return None


def accepted_settled(history: History) -> bool:
    """Every request answered 202 has its final outcome readable by now."""
    buyers = history.buyers
    anonymous = APIClient()
    for call in history.calls:
        if call.status == 202 and call.method == "POST":
            client = anonymous if call.op == "register" else buyers[call.user].client
            if _final_operation(client, _outcome_url(call)) is None:
                return False
    return True


def summary(history: History) -> str:
    ops = Counter(call.op for call in history.calls)
    answers = Counter(str(call.status) for call in history.calls)
    faults = Counter(fault.kind for fault in history.faults)
    return (
        f"seed {history.seed}: {len(history.calls)} operations {dict(ops)}; answers "
        f"{dict(answers)}; {len(history.faults)} faults {dict(faults)}"
    )
