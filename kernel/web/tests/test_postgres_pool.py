"""The API processes' connection pool (kernel.web.postgres): against the test database."""

import time

import pytest
from django.db import connection

from kernel.web.postgres import base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pooled():
    """A connection wrapper of its own, with a pool of two idle connections."""
    opened = []

    def make(size: int = 2):
        settings = {**connection.settings_dict, "OPTIONS": {"pool_size": size}}
        wrapper = base.DatabaseWrapper(settings, alias=f"pool-test-{len(opened)}")
        opened.append(wrapper)
        return wrapper

    yield make
    for wrapper in opened:
        wrapper.close()
        pool = base._pools.pop(wrapper.alias, None)
        while pool and (taken := pool.take()):
            base._discard(taken[0])


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_closed_connection_is_kept_and_handed_out_again(pooled):
    db = pooled()
    first = backend_pid(db)
    db.close()
    assert backend_pid(db) == first
    db.close()


def test_no_pool_means_a_new_session_each_time(pooled):
    db = pooled(size=0)
    first = backend_pid(db)
    db.close()
    assert backend_pid(db) != first
    db.close()


def test_a_transaction_left_open_is_rolled_back_before_reuse(pooled):
    db = pooled()
    db.set_autocommit(False)
    with db.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE left_behind (x int)")
    db.connection.cursor().execute("SELECT 1")  # still in that transaction
    base._pools[db.alias].give(db.connection, db._pool_born)
    db.connection = None
    db.set_autocommit(True)
    with db.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_temp.left_behind')")
        assert cursor.fetchone()[0] is None
    db.close()


def test_a_connection_the_server_ended_is_not_handed_out(pooled, monkeypatch):
    monkeypatch.setattr(base, "CHECK_AFTER_IDLE", 0.0)
    db = pooled()
    first = backend_pid(db)
    db.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    second = backend_pid(db)
    assert second != first
    db.close()


def test_at_most_pool_size_connections_wait_idle(pooled):
    size = 2
    wrappers = [pooled(size) for _ in range(4)]
    for wrapper in wrappers:  # one pool per alias: share the first one's
        base._pools[wrapper.alias] = base._pools.setdefault(
            wrappers[0].alias, base._Pool(size, 600)
        )
    pids = [backend_pid(w) for w in wrappers]
    assert len(set(pids)) == 4
    for wrapper in wrappers:
        wrapper.close()
    assert len(base._pools[wrappers[0].alias].idle) == size
    deadline = time.monotonic() + 5  # a closed session's backend exits soon after, not at once
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
            alive = cursor.fetchone()[0]
        if alive == size or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert alive == size


def test_a_connection_that_failed_in_use_is_closed_not_kept(pooled):
    from django.db import OperationalError

    db = pooled()
    first = backend_pid(db)
    db.close()
    assert backend_pid(db) == first  # handed out again at once, unchecked
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    with pytest.raises(OperationalError), db.cursor() as cursor:
        cursor.execute("SELECT 1")
    db.close()
    assert not base._pools[db.alias].idle
    assert backend_pid(db) != first
    db.close()
