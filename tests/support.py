"""What the tests share beside their fixtures (conftest.py): waiting for a condition, where
the checkout is, the test database's URL."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def eventually(
    probe: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# Flower's credentials in the tests that start it (conftest.py's flower fixture).
FLOWER_AUTH = ("operator", "flower-test-pass")
