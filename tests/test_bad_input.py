"""Bad input is answered 400 (or 401) with the JSON error shape; nothing is written or published."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from billing.models import LedgerEntry
from kernel.models import OutboxEvent
from users.models import User

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
    ("unknown field", {"amount": "10.00", "kind": "debit"}, "kind"),
]


def assert_nothing_happened() -> None:
    assert not OutboxEvent.objects.exists()
    assert not User.objects.exists()
    assert not LedgerEntry.objects.exists()


def assert_error_shape(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
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


def test_unknown_path_is_json_404():
    response = APIClient().get("/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
