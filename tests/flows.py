"""Steps of the user-facing flows, shared by the end-to-end tests, and the database sessions of
their own that the fault tests use to hold locks."""

import itertools
import os
from dataclasses import dataclass
from decimal import Decimal

import psycopg2
from django.conf import settings
from rest_framework.test import APIClient

from tests.support import eventually

_ids = itertools.count()
PASSWORD = "correct-horse-battery-staple"


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}{os.getpid()}x{next(_ids)}x{os.urandom(3).hex()}"


@dataclass
class Customer:
    user_id: str
    username: str
    email: str
    client: APIClient


def register(
    api: APIClient,
    *,
    username: str | None = None,
    email: str | None = None,
    password: str = PASSWORD,
    expect: int = 201,
) -> dict:
    username = username or unique_name()
    email = email or f"{username}@example.com"
    response = api.post(
        "/register/",
        {"username": username, "email": email, "password": password, "first_name": "Ada"},
        format="json",
    )
    assert response.status_code == expect, response.content
    return response.json()


def login(username: str, password: str = PASSWORD) -> APIClient:
    client = APIClient()
    response = client.post("/login/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


def customer(api: APIClient) -> Customer:
    """A registered, logged-in user whose account is open."""
    body = register(api)
    client = login(body["username"])
    eventually(lambda: client.get("/account/").status_code == 200, what="the account")
    return Customer(body["user_id"], body["username"], body["email"], client)


def deposit(client: APIClient, amount: str, expect: int = 201) -> dict:
    response = client.post("/transaction/", {"amount": amount}, format="json")
    assert response.status_code == expect, response.content
    return response.json()


def balance(client: APIClient) -> Decimal:
    response = client.get("/account/")
    assert response.status_code == 200, response.content
    return Decimal(response.json()["balance"])


def order(
    client: APIClient,
    price: str,
    *,
    description: str = "a book",
    key: str | None = None,
    expect: int = 201,
) -> dict:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = client.post(
        "/order/", {"price": price, "description": description}, format="json", **headers
    )
    assert response.status_code == expect, response.content
    return response.json()


def emails(client: APIClient, kind: str | None = None) -> list[dict]:
    found = client.get("/notification/").json()["results"]
    return [e for e in found if kind is None or e["kind"] == kind]


def db_session():
    """A connection of its own, to hold locks or cut other sessions while the test goes on."""
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(
        dbname=db["NAME"],
        user=db["USER"],
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        password=db["PASSWORD"] or None,
    )
    conn.autocommit = False
    return conn


def waiting_on_a_lock(worker: str) -> bool:
    with db_session() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND wait_event_type = 'Lock'",
            [f"worker-{worker}"],
        )
        return cursor.fetchone()[0] > 0
