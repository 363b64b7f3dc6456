"""What one order saga asks of PostgreSQL and Redis, hop by hop, with Celery out of the way.

Runs sagas in this process: POST /order/ through Django's test client, and every message the
outbox sends is applied by ``inbox.consume`` of its consumer right after the transaction that
sent it (as a worker would, in a transaction of its own), so each hop's SQL statements,
transactions and wall time are counted apart. The messages still go through the outbox and
the inbox; only the broker is left out.
Used for docs/performance.md where PostgreSQL has no pg_stat_statements:

    DATABASE_URL=postgres://…/db CELERY_BROKER_URL=redis://…/n REPLY_REDIS_URL=… CACHE_URL=… \\
        .venv/bin/python scripts/profile_saga.py --sagas 50

The database must be migrated; a user is registered and funded in it.
"""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sagas", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_django.settings.local")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment
    from rest_framework.test import APIClient

    from kernel.messaging import inbox, outbox
    from tests import flows

    setup_test_environment()  # the test client without ALLOWED_HOSTS in the way
    statements: dict[str, list[int]] = defaultdict(list)
    commits: dict[str, list[int]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    current = {"statements": 0, "commits": 0}

    def count(execute, sql, params, many, context):
        current["statements"] += 1
        if sql.strip().upper().startswith("COMMIT"):
            current["commits"] += 1
        return execute(sql, params, many, context)

    pending: list[tuple[str, dict]] = []

    def apply(consumer: str, message: dict) -> None:
        name = f"{consumer}: {message['type']}"
        current.update(statements=0, commits=0)
        started = time.perf_counter()
        inbox.consume(consumer, message)
        seconds[name].append(time.perf_counter() - started)
        statements[name].append(current["statements"])
        commits[name].append(current["commits"] + 1)  # consume's own atomic block

    def deliver(consumer: str, message: dict) -> None:
        """A worker's delivery, in this process: the outbox's send calls it after commit. What
        a delivery sends is applied after it, as a worker would take it from its queue."""
        pending.append((consumer, message))
        if len(pending) > 1:
            return
        outer = dict(current)
        while pending:
            apply(*pending[0])
            pending.pop(0)
        current.update(outer)

    outbox.send_to = deliver  # the broker left out: every consumer applies at once
    with connection.execute_wrapper(count):
        buyer = flows.customer(APIClient())
        flows.deposit(buyer.client, "100000.00")
        statements.clear(), commits.clear(), seconds.clear()
        for _ in range(args.sagas):
            current.update(statements=0, commits=0)
            started = time.perf_counter()
            flows.order(buyer.client, "1.00")
            seconds["POST /order/ (whole saga)"].append(time.perf_counter() - started)
            statements["POST /order/ (request's own)"].append(current["statements"])

    print(f"{args.sagas} sagas in one process, the broker left out (median per saga):")
    print(f"  {'hop':<48} {'statements':>10} {'commits':>8} {'ms':>7}")
    for name in sorted(seconds.keys() | statements.keys()):
        n_sql = statistics.median(statements[name]) if statements[name] else ""
        n_commit = statistics.median(commits[name]) if commits[name] else ""
        ms = f"{statistics.median(seconds[name]) * 1000:.1f}" if seconds[name] else ""
        print(f"  {name:<48} {n_sql!s:>10} {n_commit!s:>8} {ms:>7}")


if __name__ == "__main__":
    main()
