"""PostgreSQL (psycopg2) with the connections of a process kept for its next requests.

The API process serves each request in a thread of its own and gives the connection back
while the request waits for its answer event (kernel.middleware.DatabaseSlotsMiddleware), so a
connection cannot stay with its thread as CONN_MAX_AGE would keep it. Opening a PostgreSQL
session per request costs a backend process each time; this backend keeps up to
``OPTIONS["pool_size"]`` idle connections per process and hands them to whichever thread
connects next. The slots middleware bounds how many are in use at once, so the pool needs no
bound of its own on checkouts, and none ever waits for one.

A connection is given back rolled back, but session state (SET, temporary tables, session
advisory locks) would outlive the request that made it: the project makes none.

Django's own pool (``OPTIONS["pool"]``) needs psycopg 3; the project runs on psycopg2.
"""

import contextlib
import threading
import time
from collections import deque

from django.db.backends.postgresql import base
from psycopg2 import extensions

# A connection idle longer than this is checked (SELECT 1) before it is handed out: the server
# may have ended it meanwhile (a restart, an idle timeout). A busy pool hands out connections
# idle for milliseconds and pays no check: a request that meets one the server ended within
# that second fails (500), as it would have without a pool, and its connection, having raised,
# is closed rather than kept.
CHECK_AFTER_IDLE = 1.0

_pools: dict[str, "_Pool"] = {}
_pools_lock = threading.Lock()


class _Pool:
    def __init__(self, size: int, max_age: float) -> None:
        self.size = size
        self.max_age = max_age
        self.idle: deque[tuple[object, float, float]] = deque()  # (connection, born, idle since)
        self.lock = threading.Lock()

    def take(self) -> tuple[object, float] | None:
        """An idle connection that still works, with the time it was opened; or None."""
        while True:
            with self.lock:
                if not self.idle:
                    return None
                connection, born, since = self.idle.pop()  # the most recent: likeliest alive
            now = time.monotonic()
            if now - born > self.max_age or not _alive(connection, now - since):
                _discard(connection)
                continue
            return connection, born

    def clear(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, deque()
        for connection, _born, _since in idle:
            _discard(connection)

    def give(self, connection, born: float) -> None:
        """Keep a connection for the next request, if it is clean and there is room."""
        if connection.closed or time.monotonic() - born > self.max_age:
            _discard(connection)
            return
        status = connection.get_transaction_status()
        if status != extensions.TRANSACTION_STATUS_IDLE:
            if status not in (
                extensions.TRANSACTION_STATUS_INTRANS,
                extensions.TRANSACTION_STATUS_INERROR,
            ):
                _discard(connection)
                return
            try:
                connection.rollback()
            except Exception:
                _discard(connection)
                return
        with self.lock:
            if len(self.idle) < self.size:
                self.idle.append((connection, born, time.monotonic()))
                return
        _discard(connection)


def _alive(connection, idle_for: float) -> bool:
    if connection.closed:
        return False
    if idle_for < CHECK_AFTER_IDLE:
        return True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not connection.autocommit:
            connection.rollback()
    except Exception:
        return False
    return True


def _discard(connection) -> None:
    with contextlib.suppress(Exception):
        connection.close()


class DatabaseWrapper(base.DatabaseWrapper):
    # Commits asked for on this wrapper, whether they succeeded or not: how
    # kernel.middleware.DatabaseFaultMiddleware tells that a request's writes may have landed.
    commit_attempts = 0

    def _commit(self):
        self.commit_attempts += 1
        return super()._commit()

    def pool_clear(self) -> None:
        """Close the pool's idle connections (after one was found dead: so are they, likely)."""
        pool = self._connection_pool()
        if pool is not None:
            pool.clear()

    def _connection_pool(self) -> _Pool | None:
        size = int(self.settings_dict["OPTIONS"].get("pool_size", 0) or 0)
        if size <= 0:
            return None
        with _pools_lock:
            pool = _pools.get(self.alias)
            if pool is None:
                max_age = float(self.settings_dict["OPTIONS"].get("pool_max_age", 600))
                pool = _pools[self.alias] = _Pool(size, max_age)
            return pool

    def get_connection_params(self):
        params = super().get_connection_params()
        params.pop("pool_size", None)
        params.pop("pool_max_age", None)
        return params

    def get_new_connection(self, conn_params):
        pool = self._connection_pool()
        taken = pool.take() if pool else None
        if taken is None:
            self._pool_born = time.monotonic()
            return super().get_new_connection(conn_params)
        connection, self._pool_born = taken
        # What the stock backend sets on a new connection, for a pooled one.
        level = self.settings_dict["OPTIONS"].get("isolation_level")
        self.isolation_level = (
            base.IsolationLevel(level) if level is not None else base.IsolationLevel.READ_COMMITTED
        )
        return connection

    def _close(self):
        pool = self._connection_pool()
        if self.connection is None or pool is None:
            return super()._close()
        if self.errors_occurred and not self.is_usable():
            return super()._close()
        with self.wrap_database_errors:
            pool.give(self.connection, self._pool_born)
