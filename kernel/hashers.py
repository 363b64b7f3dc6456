"""Password hashing that leaves the API process's event loop free while it works.

An API process serves all its requests on one gevent loop (gateway_django/gunicorn.py). Argon2
is C code: a login holds the loop for its 50 to 300 ms of hashing, and ten logins at once
stalled every other request of the process for a second. Under gevent, hashes are computed in
a small pool of real threads instead (argon2 releases the GIL while it works); the pool's size
bounds the CPU and memory (100 MiB a hash) logins may take. A request waiting for its hash
gives back its database slot meanwhile, as one waiting for an answer event does, so a storm
of logins cannot take every slot. Elsewhere (workers, commands, tests) hashes are computed
where they are called.
"""

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import hashers

from kernel.middleware import database_released

T = TypeVar("T")

_pool: Any = None
_niced = threading.local()
# Argon2 runs its lanes in threads of its own (8 per hash), which would crowd the loop's one
# thread off the CPU; at the lowest priority (inherited by the lanes) they use what it leaves.
HASHING_NICENESS = 19


def _on_gevent_loop() -> bool:
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey

    return monkey.is_module_patched("threading")


def off_loop(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)``, in the hashing thread pool when this process runs on gevent's loop."""
    global _pool
    if not _on_gevent_loop():
        return func(*args)
    if _pool is None:  # made in the process that uses it, after gunicorn forked it
        from gevent.threadpool import ThreadPool

        _pool = ThreadPool(settings.PASSWORD_HASHING_THREADS)
    with database_released():
        return _pool.apply(_at_low_priority, (func, *args))


def _at_low_priority(func: Callable[..., T], *args: Any) -> T:
    if not getattr(_niced, "done", False):
        # Linux: a thread's nice value is its own, and threads it starts inherit it.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
        _niced.done = True
    return func(*args)


class Argon2PasswordHasher(hashers.Argon2PasswordHasher):
    """Django's Argon2 hasher (same algorithm name and parameters), computed off the loop."""

    def encode(self, password: str, salt: str) -> str:
        return off_loop(super().encode, password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        return off_loop(super().verify, password, encoded)
