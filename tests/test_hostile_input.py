"""Malformed and hostile requests across every endpoint: each is answered 4xx with the JSON
error shape, and nothing is written or published."""

import uuid

import pytest
from django.urls import path
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from billing.models import LedgerEntry
from billing.tests.factories import AccountFactory
from gateway.models import OrderRequest
from gateway_django import urls
from kernel.messaging.models import OutboxEvent
from orders.models import Order
from orders.tests.factories import OrderFactory
from users.models import User
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "grace",
    "email": "grace@example.com",
    "password": "correct-horse-battery-staple",
}


def with_(**changes):
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not ...}


REGISTER_CASES = [
    ("missing username", with_(username=...), "username"),
    ("missing email", with_(email=...), "email"),
    ("missing password", with_(password=...), "password"),
    ("empty username", with_(username=""), "username"),
    ("username too long", with_(username="u" * 151), "username"),
    ("username with spaces", with_(username="grace hopper"), "username"),
    ("username not a string", with_(username=["grace"]), "username"),
    ("invalid email", with_(email="grace-at-example"), "email"),
    ("email too long", with_(email="g" * 250 + "@example.com"), "email"),
    ("weak password: short", with_(password="abc"), "password"),
    ("weak password: common", with_(password="password123"), "password"),
    ("weak password: numeric", with_(password="8172635490"), "password"),
    (
        "weak password: like the username",
        with_(username="gracehopper1", password="gracehopper1"),
        "password",
    ),
    ("password too long", with_(password="p" * 129), "password"),
    ("first name too long", with_(first_name="f" * 151), "first_name"),
    ("NUL in username", with_(username="gra\x00ce"), "username"),
    ("unknown field", with_(is_staff=True), "is_staff"),
]

DEPOSIT_CASES = [
    ("missing amount", {}, "amount"),
    ("zero", {"amount": "0"}, "amount"),
    ("zero with decimals", {"amount": "0.00"}, "amount"),
    ("negative", {"amount": "-10.00"}, "amount"),
    ("not a number", {"amount": "ten"}, "amount"),
    ("empty", {"amount": ""}, "amount"),
    ("NaN string", {"amount": "NaN"}, "amount"),
    ("Infinity string", {"amount": "Infinity"}, "amount"),
    ("three decimals", {"amount": "10.001"}, "amount"),
    ("exponent", {"amount": "1e3"}, "amount"),
    ("above the maximum", {"amount": "1000000.01"}, "amount"),
    ("huge", {"amount": "9" * 400}, "amount"),
    ("boolean", {"amount": True}, "amount"),
    ("null", {"amount": None}, "amount"),
    ("object", {"amount": {"value": "10"}}, "amount"),
    ("leading plus", {"amount": "+10"}, "amount"),
    ("trailing line break", {"amount": "10.00\n"}, "amount"),
    ("whole number and a line break", {"amount": "2\n"}, "amount"),
    ("leading space", {"amount": " 10.00"}, "amount"),
    ("fullwidth digit", {"amount": "1\uff10"}, "amount"),
    ("fullwidth number", {"amount": "\uff11\uff10"}, "amount"),
    ("Arabic-Indic digits", {"amount": "1\u0660.\u0660\u0660"}, "amount"),
    ("fullwidth decimal", {"amount": "5.\uff105"}, "amount"),
    ("superscript digit", {"amount": "\u00b2"}, "amount"),
    ("unknown field", {"amount": "10.00", "kind": "debit"}, "kind"),
]


def assert_nothing_happened(users: int = 0, orders: int = 0) -> None:
    assert not OutboxEvent.objects.exists()
    assert User.objects.count() == users
    assert not LedgerEntry.objects.exists()
    assert Order.objects.count() == orders
    assert OrderRequest.objects.count() == orders


def assert_error_shape(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
    # A sentence for people, never a Python repr of the exception's details.
    assert "ErrorDetail" not in error["message"] and "{" not in error["message"], error
    if field:
        assert field in error["fields"], error


@pytest.fixture
def user_client() -> APIClient:
    token = AccessToken()
    token["user_id"] = "00000000-0000-4000-8000-000000000002"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize(
    ("case", "body", "field"), REGISTER_CASES, ids=[c[0] for c in REGISTER_CASES]
)
def test_bad_registration_is_400(case, body, field):
    response = APIClient().post("/register/", body, format="json")
    assert_error_shape(response, 400, field)
    assert_nothing_happened()


@pytest.mark.parametrize(
    ("case", "body", "field"), DEPOSIT_CASES, ids=[c[0] for c in DEPOSIT_CASES]
)
def test_bad_deposit_is_400(case, body, field, user_client):
    response = user_client.post("/transaction/", body, format="json")
    assert_error_shape(response, 400, field)
    assert_nothing_happened()


@pytest.mark.parametrize(
    "raw",
    ['{"amount": NaN}', '{"amount": Infinity}', '{"amount": "10.00"', "amount=10", "", "[1, 2]"],
    ids=[
        "NaN literal",
        "Infinity literal",
        "truncated JSON",
        "form encoding",
        "empty body",
        "array",
    ],
)
def test_deposit_body_that_is_not_a_json_object_is_400(raw, user_client):
    response = user_client.post("/transaction/", raw, content_type="application/json")
    assert_error_shape(response, 400)
    assert_nothing_happened()


def test_an_amount_in_other_digits_is_told_what_is_wrong(user_client):
    response = user_client.post("/transaction/", {"amount": "\uff11\uff10"}, format="json")
    assert_error_shape(response, 400, "amount")
    assert "digits 0 to 9" in response.json()["error"]["fields"]["amount"][0]
    response = user_client.post("/transaction/", {"amount": "10.00\n"}, format="json")
    assert "Nothing may come" in response.json()["error"]["fields"]["amount"][0]


def test_register_body_that_is_not_json_is_400():
    response = APIClient().post("/register/", "username=grace", content_type="application/json")
    assert_error_shape(response, 400)
    assert_nothing_happened()


def test_form_encoded_body_is_415(user_client):
    response = user_client.post("/transaction/", {"amount": "10.00"})
    assert_error_shape(response, 415)
    assert_nothing_happened()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/me/"),
        ("get", "/account/"),
        ("get", "/transaction/"),
        ("post", "/transaction/"),
        ("get", "/notification/"),
    ],
)
def test_no_token_is_401(method, path):
    response = getattr(APIClient(), method)(path, {"amount": "10.00"}, format="json")
    assert_error_shape(response, 401)
    assert_nothing_happened()


def test_a_forged_token_is_401():
    client = APIClient()
    token = AccessToken()
    token["user_id"] = "00000000-0000-4000-8000-000000000003"
    forged = str(token)[:-4] + ("AAAA" if not str(token).endswith("AAAA") else "BBBB")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert_error_shape(client.post("/transaction/", {"amount": "1.00"}, format="json"), 401)
    assert_nothing_happened()


@pytest.fixture
def world():
    """A user with an account and a token, and another user's confirmed order."""
    user = UserFactory()
    AccountFactory(user_id=user.id)
    stranger = UserFactory()
    theirs = OrderFactory(user_id=stranger.id)
    OrderRequest.objects.create(
        order_id=theirs.id, user_id=stranger.id, correlation_id=uuid.uuid4()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return {"user": user, "client": client, "theirs": theirs, "anonymous": APIClient()}


UNKNOWN = "00000000-0000-4000-8000-00000000beef"
HUGE = "x" * (70 * 1024)
# 10,000 levels: Python's json would recurse past its limit (RecursionError, a 500).
DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000

# (case, caller, method, path, body or raw, options, expected status)
HOSTILE = [
    # login and refresh
    ("login: missing password", "anonymous", "post", "/login/", {"username": "x"}, {}, 400),
    (
        "login: username not a string",
        "anonymous",
        "post",
        "/login/",
        {"username": {"$ne": None}, "password": "x"},
        {},
        400,
    ),
    (
        "login: SQL in the username",
        "anonymous",
        "post",
        "/login/",
        {"username": "' OR 1=1 --", "password": "x"},
        {},
        400,
    ),
    (
        "login: unknown user",
        "anonymous",
        "post",
        "/login/",
        {"username": "nobody", "password": PASSWORD},
        {},
        401,
    ),
    (
        "login: not JSON",
        "anonymous",
        "post",
        "/login/",
        "username=a&password=b",
        {"content_type": "application/json"},
        400,
    ),
    (
        "refresh: garbage token",
        "anonymous",
        "post",
        "/token/refresh/",
        {"refresh": "garbage"},
        {},
        400,
    ),
    (
        "refresh: forged token",
        "anonymous",
        "post",
        "/token/refresh/",
        {"refresh": "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"},
        {},
        401,
    ),
    ("refresh: missing token", "anonymous", "post", "/token/refresh/", {}, {}, 400),
    ("login: JSON nested 10,000 deep", "anonymous", "post", "/login/", DEEP, {}, 400),
    ("login: objects nested 10,000 deep", "anonymous", "post", "/login/", DEEP_OBJECT, {}, 400),
    ("refresh: JSON nested 10,000 deep", "anonymous", "post", "/token/refresh/", DEEP, {}, 400),
    ("register: JSON nested 10,000 deep", "anonymous", "post", "/register/", DEEP, {}, 400),
    ("refresh: an access token", "user", "post", "/token/refresh/", {"refresh": "ACCESS"}, {}, 401),
    # register, beyond the field table below
    (
        "register: emoji username",
        "anonymous",
        "post",
        "/register/",
        {"username": "\U0001f4b8money", "email": "m@example.com", "password": PASSWORD},
        {},
        400,
    ),
    (
        "register: SQL in the username",
        "anonymous",
        "post",
        "/register/",
        {
            "username": "x'; DROP TABLE users_user; --",
            "email": "x@example.com",
            "password": PASSWORD,
        },
        {},
        400,
    ),
    (
        "register: card number as username",
        "anonymous",
        "post",
        "/register/",
        {"username": "4111111111111111", "email": "c@example.com", "password": PASSWORD},
        {},
        400,
    ),
    (
        "register: body over the size limit",
        "anonymous",
        "post",
        "/register/",
        {"username": HUGE, "email": "h@example.com", "password": PASSWORD},
        {},
        413,
    ),
    (
        "register: XML",
        "anonymous",
        "post",
        "/register/",
        "<user/>",
        {"content_type": "application/xml"},
        415,
    ),
    # orders
    ("order: price missing", "user", "post", "/order/", {"description": "a"}, {}, 400),
    ("order: price zero", "user", "post", "/order/", {"price": "0.00"}, {}, 400),
    ("order: price negative", "user", "post", "/order/", {"price": "-5.00"}, {}, 400),
    ("order: price NaN", "user", "post", "/order/", {"price": "NaN"}, {}, 400),
    ("order: price with exponent", "user", "post", "/order/", {"price": "5e2"}, {}, 400),
    ("order: price huge", "user", "post", "/order/", {"price": "1" * 50}, {}, 400),
    ("order: price a list", "user", "post", "/order/", {"price": ["5.00"]}, {}, 400),
    ("order: JSON nested 10,000 deep", "user", "post", "/order/", DEEP, {}, 400),
    (
        "order: price nested 10,000 deep",
        "user",
        "post",
        "/order/",
        '{"price": ' + DEEP + "}",
        {},
        400,
    ),
    ("order: price with a line break", "user", "post", "/order/", {"price": "2\n"}, {}, 400),
    ("order: price in fullwidth digits", "user", "post", "/order/", {"price": "1\uff10"}, {}, 400),
    (
        "order: price in Arabic-Indic digits",
        "user",
        "post",
        "/order/",
        {"price": "1\u0660.\u0660\u0660"},
        {},
        400,
    ),
    (
        "order: price with a fullwidth decimal",
        "user",
        "post",
        "/order/",
        {"price": "5.\uff105"},
        {},
        400,
    ),
    (
        "order: description too long",
        "user",
        "post",
        "/order/",
        {"price": "5.00", "description": "d" * 501},
        {},
        400,
    ),
    (
        "order: card number in the description",
        "user",
        "post",
        "/order/",
        {"price": "5.00", "description": "pay with 4111 1111 1111 1111 please"},
        {},
        400,
    ),
    (
        "order: unknown field",
        "user",
        "post",
        "/order/",
        {"price": "5.00", "status": "confirmed"},
        {},
        400,
    ),
    (
        "order: Idempotency-Key too long",
        "user",
        "post",
        "/order/",
        {"price": "5.00"},
        {"HTTP_IDEMPOTENCY_KEY": "k" * 256},
        400,
    ),
    (
        "order: Idempotency-Key with spaces",
        "user",
        "post",
        "/order/",
        {"price": "5.00"},
        {"HTTP_IDEMPOTENCY_KEY": "two words"},
        400,
    ),
    (
        "order: text/plain",
        "user",
        "post",
        "/order/",
        "price=5",
        {"content_type": "text/plain"},
        415,
    ),
    (
        "order: multipart form",
        "user",
        "post",
        "/order/",
        {"price": "5.00"},
        {"format": "multipart"},
        415,
    ),
    ("order: no token", "anonymous", "post", "/order/", {"price": "5.00"}, {}, 401),
    ("order: PUT", "user", "put", "/order/", {"price": "5.00"}, {}, 405),
    ("order detail: unknown id", "user", "get", f"/order/{UNKNOWN}/", None, {}, 404),
    ("order detail: not a uuid", "user", "get", "/order/1%20OR%201=1/", None, {}, 404),
    ("order detail: another user's", "user", "get", "/order/{theirs}/", None, {}, 404),
    ("cancel: unknown order", "user", "post", f"/order/{UNKNOWN}/cancel/", None, {}, 404),
    ("cancel: another user's order", "user", "post", "/order/{theirs}/cancel/", None, {}, 404),
    ("cancel: a body", "user", "post", "/order/{theirs}/cancel/", {"force": True}, {}, 400),
    ("cancel: no token", "anonymous", "post", "/order/{theirs}/cancel/", None, {}, 401),
    # reads
    ("operation: unknown", "user", "get", f"/operation/{UNKNOWN}/", None, {}, 404),
    ("operation: not a uuid", "user", "get", "/operation/../../etc/passwd/", None, {}, 404),
    ("register status: unknown", "anonymous", "get", f"/register/{UNKNOWN}/", None, {}, 404),
    ("account: DELETE", "user", "delete", "/account/", None, {}, 405),
    ("transaction: PATCH", "user", "patch", "/transaction/", {"amount": "1.00"}, {}, 405),
    (
        "transaction: negative limit",
        "user",
        "get",
        "/transaction/?limit=-1&offset=-5",
        None,
        {},
        400,
    ),
    ("notification: POST", "user", "post", "/notification/", {"subject": "x"}, {}, 405),
    ("order list: superscript limit", "user", "get", "/order/?limit=\u00b2", None, {}, 400),
    ("order list: fullwidth limit", "user", "get", "/order/?limit=\uff11\uff10", None, {}, 400),
    ("order list: Arabic-Indic offset", "user", "get", "/order/?offset=\u0661", None, {}, 400),
    ("order list: limit with a line break", "user", "get", "/order/?limit=10%0A", None, {}, 400),
    (
        "transaction list: superscript limit",
        "user",
        "get",
        "/transaction/?limit=\u00b2",
        None,
        {},
        400,
    ),
    (
        "transaction list: fullwidth limit",
        "user",
        "get",
        "/transaction/?limit=\uff11\uff10",
        None,
        {},
        400,
    ),
    (
        "notification list: superscript limit",
        "user",
        "get",
        "/notification/?limit=\u00b2",
        None,
        {},
        400,
    ),
    (
        "notification list: fullwidth offset",
        "user",
        "get",
        "/notification/?offset=\uff11",
        None,
        {},
        400,
    ),
    ("me: no token", "anonymous", "get", "/me/", None, {}, 401),
    ("me: token in the query string", "anonymous", "get", "/me/?token=ACCESS", None, {}, 401),
    # outside the API's views: Django's own answers, in the same shape
    ("unknown path", "anonymous", "get", "/no-such-thing/", None, {}, 404),
    ("unknown path: POST", "user", "post", "/no-such-thing/", {"price": "5.00"}, {}, 404),
    ("unknown path: body over the size limit", "anonymous", "post", "/nothing/", HUGE, {}, 413),
    ("register: POST without the slash", "anonymous", "post", "/register", {}, {}, 404),
    ("order: POST without the slash", "user", "post", "/order", {"price": "5.00"}, {}, 404),
    ("root: DELETE", "anonymous", "delete", "/", None, {}, 405),
    ("liveness: POST", "anonymous", "post", "/healthz", None, {}, 405),
    ("readiness: PUT", "anonymous", "put", "/readyz", None, {}, 405),
    ("login: GET", "anonymous", "get", "/login/", None, {}, 405),
    (
        "another host",
        "anonymous",
        "get",
        "/me/",
        None,
        {"HTTP_HOST": "evil.example"},
        400,
    ),
]


@pytest.mark.parametrize(
    ("case", "caller", "method", "path", "body", "options", "expected"),
    HOSTILE,
    ids=[row[0] for row in HOSTILE],
)
def test_hostile_requests_are_refused_and_change_nothing(
    world, case, caller, method, path, body, options, expected
):
    client = world["client"] if caller == "user" else world["anonymous"]
    access = str(AccessToken.for_user(world["user"]))
    path = path.format(theirs=world["theirs"].id).replace("ACCESS", access)
    if isinstance(body, dict) and body.get("refresh") == "ACCESS":
        body = {"refresh": access}
    options = dict(options)
    if isinstance(body, str):
        options.setdefault("content_type", "application/json")
    elif body is not None:
        options.setdefault("format", "json")
    response = getattr(client, method)(path, body, **options)

    assert_error_shape(response, expected)
    assert_nothing_happened(users=2, orders=1)


def test_the_table_is_broad():
    assert len(HOSTILE) + len(REGISTER_CASES) + len(DEPOSIT_CASES) >= 40


def _boom(request):
    raise RuntimeError("a bug")


# The API's routes and one view that fails, for the server-error case below.
urlpatterns = [path("boom/", _boom), *urls.urlpatterns]
handler400, handler404, handler500 = urls.handler400, urls.handler404, urls.handler500


@pytest.mark.parametrize("debug", [False, True], ids=["production", "DEBUG"])
@pytest.mark.parametrize(
    ("method", "path", "body", "expected", "code"),
    [
        ("get", "/no-such-thing/", None, 404, "not_found"),
        ("post", "/register", {}, 404, "not_found"),
        ("delete", "/", None, 405, "method_not_allowed"),
        ("post", "/healthz", None, 405, "method_not_allowed"),
        ("post", "/nothing/", {"x": HUGE}, 413, "too_large"),
        ("get", "/boom/", None, 500, "server_error"),
    ],
)
def test_errors_outside_the_api_views_are_json_with_or_without_debug(
    settings, debug, method, path, body, expected, code
):
    """DEBUG (the local settings) turns Django's 404 and 500 into HTML pages: not here."""
    settings.DEBUG = debug
    settings.ROOT_URLCONF = __name__
    client = APIClient(raise_request_exception=False)
    response = getattr(client, method)(path, body, format="json" if body else None)
    assert_error_shape(response, expected)
    assert response.json()["error"]["code"] == code
    if expected == 405:
        assert "GET" in response["Allow"]
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize("debug", [False, True], ids=["production", "DEBUG"])
def test_a_missing_slash_is_added_by_a_redirect_for_get_only(settings, debug):
    settings.DEBUG = debug
    response = APIClient().get("/me")
    assert response.status_code == 301 and response["Location"] == "/me/"
    assert response.content == b""


def test_the_root_says_what_the_service_is_and_links_the_docs():
    response = APIClient().get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "order-platform" and body["description"]
    assert body["docs"] == "http://testserver/api/docs/"
    assert APIClient().get(body["docs"]).status_code == 200
