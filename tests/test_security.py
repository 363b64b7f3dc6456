"""Who may do what: tokens, ownership, throttling, admin and Flower, production settings, and
what the broker may never carry."""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import jwt
import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.urls import URLPattern, URLResolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from billing.models import LedgerEntry
from gateway.services import operation_start
from gateway_django import urls
from kernel.messaging.models import DeadLetter, OutboxEvent
from kernel.web.api import looks_like_card_number
from notifications.models import Notification
from tests.flows import PASSWORD, customer, deposit, order, register
from tests.support import eventually
from users.models import User
from users.services import user_deactivate
from users.tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {
    ("get", "/"),
    ("post", "/register/"),
    ("get", "/register/{id}/"),
    ("post", "/login/"),
    ("post", "/token/refresh/"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/.well-known/jwks.json"),
}
ID = "00000000-0000-4000-8000-000000000001"


def api_routes():
    """Every (method, path) of the API, read from the URL configuration itself."""
    for entry in urls.urlpatterns:
        if isinstance(entry, URLResolver) or entry.pattern.describe().startswith("'admin/"):
            continue
        assert isinstance(entry, URLPattern)
        path = "/" + re.sub(r"<uuid:\w+>", "{id}", str(entry.pattern))
        view = getattr(entry.callback, "cls", None)
        methods = (
            ["get"]
            if view is None
            else [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
        )
        for method in methods:
            yield method, path


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), sorted(api_routes()))
def test_a_token_is_required_everywhere_but_the_public_routes(method, path, settings):
    settings.API_DOCS_PUBLIC = False
    response = getattr(APIClient(), method)(path.format(id=ID), {}, format="json")
    if (method, path) in PUBLIC:
        assert response.status_code != 401
    elif path.startswith("/api/"):
        assert response.status_code in (401, 403)  # the docs: staff of the admin only
    else:
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "not_authenticated"


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _claims(user_id: str) -> dict:
    now = int(time.time())
    return {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": user_id,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make",
    [
        lambda uid, key: jwt.encode(_claims(uid), "not-the-key-" * 4, algorithm="HS256"),
        lambda uid, key: jwt.encode(
            {**_claims(uid), "exp": int(time.time()) - 10}, key, algorithm="HS256"
        ),
        lambda uid, key: jwt.encode(_claims(uid), key, algorithm="HS512"),
        lambda uid, key: (
            base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
            + "."
            + base64.urlsafe_b64encode(json.dumps(_claims(uid)).encode()).rstrip(b"=").decode()
            + "."
        ),
        lambda uid, key: jwt.encode(
            {**_claims(uid), "token_type": "refresh"}, key, algorithm="HS256"
        ),
        lambda uid, key: "Bearer",
    ],
    ids=[
        "forged signature",
        "expired",
        "wrong algorithm",
        "alg none",
        "refresh as access",
        "not a token",
    ],
)
def test_bad_tokens_are_401(make):
    user = UserFactory()
    token = make(str(user.id), settings.SIMPLE_JWT["SIGNING_KEY"])
    response = _bearer(token).get("/me/")
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.django_db
def test_a_valid_token_is_accepted():
    user = UserFactory()
    assert _bearer(str(AccessToken.for_user(user))).get("/me/").status_code == 200


@pytest.mark.django_db
def test_an_operation_is_visible_to_its_owner_only():
    owner, other = UserFactory(), UserFactory()
    operation_id = uuid.uuid4()
    operation_start(correlation_id=operation_id, kind="deposit", user_id=owner.id)
    path = f"/operation/{operation_id}/"
    assert _bearer(str(AccessToken.for_user(other))).get(path).status_code == 404
    mine = _bearer(str(AccessToken.for_user(owner))).get(path)
    assert mine.status_code == 200 and mine.json()["status"] == "pending"
    # A deposit's operation is not readable where registrations are.
    assert APIClient().get(f"/register/{operation_id}/").status_code == 404


@pytest.mark.django_db
def test_login_is_throttled_per_username(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_user": "3/minute"}
    cache.clear()
    user = UserFactory()
    for _ in range(3):
        response = APIClient().post(
            "/login/", {"username": user.username, "password": "wrong"}, format="json"
        )
        assert response.status_code == 401
    blocked = APIClient().post(
        "/login/", {"username": user.username.upper(), "password": PASSWORD}, format="json"
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "throttled"
    assert int(blocked["Retry-After"]) > 0


@pytest.mark.django_db
def test_the_admin_login_is_throttled_like_the_api_login(settings, client):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_user": "3/minute"}
    cache.clear()
    staff = UserFactory(is_staff=True)
    for _ in range(3):
        response = client.post(
            "/admin/login/", {"username": staff.username, "password": "wrong"}, follow=False
        )
        assert response.status_code == 200  # the form again, with its error
    blocked = client.post("/admin/login/", {"username": staff.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    # The same budget as the API's: the API login of that name is refused too.
    api = APIClient().post(
        "/login/", {"username": staff.username, "password": PASSWORD}, format="json"
    )
    assert api.status_code == 429


@pytest.mark.django_db
def test_register_is_throttled_per_address(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "register": "2/minute"}
    cache.clear()
    for _ in range(2):
        assert APIClient().post("/register/", {}, format="json").status_code == 400
    assert APIClient().post("/register/", {}, format="json").status_code == 429
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_the_admin_is_for_staff_only(client, admin_client):
    assert client.get("/admin/orders/order/").status_code == 302
    client.force_login(UserFactory())
    assert client.get("/admin/orders/order/").status_code == 302  # not staff: the login page
    assert admin_client.get("/admin/orders/order/").status_code == 200
    assert admin_client.get("/admin/billing/account/").status_code == 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.usefixtures("redis_server")
def test_flower_asks_for_credentials():
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway_django.settings.test",
        "FLOWER_BASIC_AUTH": "operator:s3cret-pass",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    flower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gateway_django",
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                anonymous = requests.get(url, timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "flower did not start"
                time.sleep(0.3)
        assert anonymous.status_code == 401
        assert requests.get(url, auth=("operator", "wrong"), timeout=5).status_code == 401
        assert requests.get(url, auth=("operator", "s3cret-pass"), timeout=5).status_code == 200
        for page in ("workers", "tasks", "broker", "api/workers", "api/tasks", "api/queues/length"):
            assert requests.get(url + page, timeout=5).status_code == 401, page
        # Open on purpose (docs/reliability.md): a probe, and Prometheus's scrape, which holds
        # counts and timings per task name and worker, never a task's arguments.
        assert requests.get(url + "healthcheck", timeout=5).text == "OK"
        metrics = requests.get(url + "metrics", timeout=5)
        assert metrics.status_code == 200 and "flower_" in metrics.text
    finally:
        flower.terminate()
        flower.wait(timeout=10)


def _production(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_", "API_DOCS"))
    }
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.ALLOWED_HOSTS, s.API_DOCS_PUBLIC]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "gateway_django.settings.production", **env},
    )


def test_production_refuses_to_start_without_its_secrets():
    assert _production(DJANGO_ALLOWED_HOSTS="shop.example").returncode != 0
    short = _production(DJANGO_SECRET_KEY="short", DJANGO_ALLOWED_HOSTS="shop.example")
    assert short.returncode != 0 and "at least 32" in short.stderr
    assert _production(DJANGO_SECRET_KEY="k" * 50).returncode != 0  # no allowed hosts


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DJANGO_SECRET_KEY": settings.PUBLISHED_SECRET_KEYS[0]}, "development secret"),
        ({"DJANGO_SECRET_KEY": settings.PUBLISHED_SECRET_KEYS[1]}, "development secret"),
        (
            {"DJANGO_SECRET_KEY": "k" * 50, "JWT_SIGNING_KEY": settings.PUBLISHED_SECRET_KEYS[0]},
            "development secret",
        ),
        ({"DJANGO_SECRET_KEY": "k" * 50, "JWT_SIGNING_KEY": "a"}, "at least 32 bytes"),
        ({"DJANGO_SECRET_KEY": "k" * 50, "JWT_SIGNING_KEY": "j" * 31}, "at least 32 bytes"),
    ],
    ids=["local secret", "test secret", "local secret as signing key", "key a", "key of 31"],
)
def test_production_refuses_published_secrets_and_short_signing_keys(env, says):
    result = _production(DJANGO_ALLOWED_HOSTS="shop.example", **env)
    assert result.returncode != 0 and says in result.stderr, result.stderr[-500:]


def test_production_takes_a_signing_key_of_its_own():
    result = _production(
        DJANGO_SECRET_KEY="k" * 50, JWT_SIGNING_KEY="j" * 32, DJANGO_ALLOWED_HOSTS="shop.example"
    )
    assert result.returncode == 0, result.stderr


def test_production_is_locked_down():
    result = _production(
        DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS="shop.example", DJANGO_DEBUG="true"
    )
    assert result.returncode == 0, result.stderr
    debug, session_secure, csrf_secure, hosts, docs_public = json.loads(result.stdout)
    assert (debug, session_secure, csrf_secure, docs_public) == (False, True, True, False)
    assert hosts == ["shop.example"]


def test_no_environment_file_or_key_is_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    names = tracked.stdout.split()
    assert ".env" not in names
    assert not [n for n in names if n.endswith((".pem", ".key", ".p12"))]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live")
def test_a_deactivated_or_deleted_user_is_refused_at_once(api, admin_client, redis_server):
    alice, bob = customer(api), customer(api)
    refresh = (
        APIClient()
        .post("/login/", {"username": bob.username, "password": PASSWORD}, format="json")
        .json()["refresh"]
    )
    deposit(alice.client, "10.00")

    started = time.monotonic()
    user_deactivate(user=User.objects.get(pk=alice.user_id))
    eventually(
        lambda: alice.client.get("/account/").status_code == 401,
        timeout=3,
        interval=0.01,
        what="the deactivated user's token to be refused",
    )
    refused_after = time.monotonic() - started
    assert alice.client.post("/transaction/", {"amount": "1.00"}, format="json").status_code == 401
    refused = alice.client.post("/order/", {"price": "1.00"}, format="json")
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "code": "user_inactive",
        "message": "This account is no longer active.",
    }
    assert alice.client.get("/me/").status_code == 401
    # The refusal is kept in PostgreSQL: a Redis restarted empty forgets nothing of it.
    redis_server.restart()
    assert alice.client.get("/account/").status_code == 401

    # Deleted from the admin: the access token is refused, the refresh token is a 401 too.
    assert (
        admin_client.post(f"/admin/users/user/{bob.user_id}/delete/", {"post": "yes"}).status_code
        == 302
    )
    eventually(lambda: bob.client.get("/account/").status_code == 401, timeout=3, interval=0.02)
    again = APIClient().post("/token/refresh/", {"refresh": refresh}, format="json")
    assert again.status_code == 401, again.content
    assert again.json()["error"]["code"] == "no_active_account"

    # Only the deposit before the deactivation moved money; each of them was told.
    account_entries = LedgerEntry.objects.filter(kind="deposit").count()
    assert account_entries == 1
    eventually(
        lambda: Notification.objects.filter(kind="account_closed").count() == 2,
        what="both letters",
    )
    print(f"\ndeactivation refused the token after {refused_after * 1000:.0f} ms")


FAKE_HASH = "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


@pytest.mark.django_db
def test_the_admin_shows_no_password_hash(admin_client):
    envelope = {
        "id": str(uuid.uuid4()),
        "type": "RegistrationRequested",
        "version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
        "payload": {"user_id": str(uuid.uuid4()), "username": "ada", "password_hash": FAKE_HASH},
    }
    row = OutboxEvent.objects.create(
        id=envelope["id"], type=envelope["type"], correlation_id=envelope["correlation_id"],
        envelope=envelope,
    )  # fmt: skip
    letter = DeadLetter.objects.create(
        consumer="users", event_type=envelope["type"], message=envelope, reason="failed"
    )
    for page in (
        f"/admin/kernel/outboxevent/{row.pk}/change/",
        f"/admin/kernel/deadletter/{letter.pk}/change/",
    ):
        shown = admin_client.get(page)
        assert shown.status_code == 200
        assert b"ada" in shown.content and b"[hidden]" in shown.content
        assert b"aGFzaGhhc2hoYXNo" not in shown.content, page


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live")
def test_the_password_hash_leaves_the_outbox_once_the_registration_is_settled(api):
    body = register(api)
    row = OutboxEvent.objects.filter(
        type="RegistrationRequested", envelope__payload__user_id=body["user_id"]
    )
    eventually(
        lambda: (
            row.filter(settled_at__isnull=False).exists()
            and "password_hash" not in row.get().envelope["payload"]
        ),
        what="the registration's envelope to be scrubbed",
    )
    assert row.get().envelope["payload"]["username"] == body["username"]
    assert User.objects.get(pk=body["user_id"]).password.startswith("md5$")  # still the user's


JWT_LIKE = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live")
def test_the_broker_never_carries_a_password_a_token_or_a_card_number(api):
    alice = customer(api)
    token = alice.client._credentials["HTTP_AUTHORIZATION"].split()[1]
    deposit(alice.client, "50.00")
    order(alice.client, "10.00", description="a gift for Ada")
    refused = alice.client.post(
        "/order/", {"price": "5.00", "description": "card 4111-1111-1111-1111"}, format="json"
    )
    assert refused.status_code == 400

    envelopes = [row.envelope for row in OutboxEvent.objects.all()]
    assert len(envelopes) >= 8
    for envelope in envelopes:
        message = json.dumps(envelope)
        assert PASSWORD not in message
        assert token not in message and not JWT_LIKE.search(message)
        assert "4111" not in message
        # Free text only: ids are UUIDs, and a password hash's hex digits can look like a
        # card number by chance (about one run in five hundred).
        texts = [
            v
            for k, v in envelope["payload"].items()
            if isinstance(v, str) and not k.endswith("_id") and k != "password_hash"
        ]
        assert not any(looks_like_card_number(text) for text in texts), envelope


@pytest.mark.django_db
def test_a_late_registration_points_its_client_where_it_can_read_the_outcome(settings):
    settings.GATEWAY_REPLY_TIMEOUT = 0.01  # nothing is sent (no commit): the answer is a 202
    body = {"username": "late", "email": "late@example.com", "password": "correct-horse-9x!"}
    response = APIClient().post("/register/", {**body, "first_name": "Ada"}, format="json")
    assert response.status_code == 202, response.content
    operation = urlparse(response.json()["operation"]).path
    assert operation == urlparse(response["Location"]).path
    assert operation.startswith("/register/")
    read = APIClient().get(operation)  # anonymous: no account yet, so no token
    assert read.status_code == 200 and read.json()["status"] == "pending"
