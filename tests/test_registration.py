"""Registration end to end: gateway → users → billing and notifications, through real workers."""

import pytest

from conftest import eventually
from kernel.models import OutboxEvent
from tests.flows import PASSWORD, login, register, unique_name
from tests.invariants import assert_money_invariants
from users.models import User

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live")]


def test_register_creates_user_account_and_welcome_email(api):
    body = register(api)

    assert set(body) == {"user_id", "username", "email", "first_name", "last_name"}
    user = User.objects.get(pk=body["user_id"])
    assert user.check_password(PASSWORD)
    client = login(body["username"])
    eventually(lambda: client.get("/account/").status_code == 200, what="the account")
    account = client.get("/account/").json()
    assert account["balance"] == "0.00"
    assert account["user_id"] == body["user_id"]
    emails = eventually(lambda: client.get("/notification/").json()["results"], what="an email")
    assert len(emails) == 1
    assert emails[0]["kind"] == "welcome"
    assert emails[0]["email"] == body["email"]
    eventually(
        lambda: client.get("/notification/").json()["results"][0]["status"] == "sent",
        what="the welcome email to be sent",
    )
    me = client.get("/me/").json()
    assert me["username"] == body["username"]
    assert_money_invariants()


def test_register_answers_with_events_that_share_the_request_correlation_id(api):
    response = api.post(
        "/register/",
        {"username": unique_name(), "email": f"{unique_name()}@example.com", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 201
    correlation = response["X-Correlation-ID"]
    types = eventually(
        lambda: (
            {"AccountCreated", "UserCreated", "RegistrationRequested"}
            <= set(
                OutboxEvent.objects.filter(correlation_id=correlation).values_list(
                    "type", flat=True
                )
            )
            and list(OutboxEvent.objects.filter(correlation_id=correlation))
        ),
        what="the three events of the registration",
    )
    by_type = {row.type: row.envelope for row in types}
    assert by_type["UserCreated"]["causation_id"] == by_type["RegistrationRequested"]["id"]
    assert by_type["AccountCreated"]["causation_id"] == by_type["UserCreated"]["id"]
    assert "password" not in str(by_type["UserCreated"])


def test_taken_username_is_409_and_creates_nothing(api):
    first = register(api)
    email = f"{unique_name()}@example.com"

    response = api.post(
        "/register/",
        {"username": first["username"].upper(), "email": email, "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "username_taken"
    assert "taken" in response.json()["error"]["message"]
    assert User.objects.filter(username__iexact=first["username"]).count() == 1
    assert not User.objects.filter(email=email).exists()
    assert not OutboxEvent.objects.filter(type="UserCreated", envelope__payload__email=email)


def test_taken_email_is_409(api):
    first = register(api)
    response = api.post(
        "/register/",
        {"username": unique_name(), "email": first["email"].upper(), "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


def _fullwidth(text: str) -> str:
    """The same letters and digits in their fullwidth compatibility forms."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def test_names_that_differ_only_by_compatibility_forms_are_one_name(api):
    first = register(api)
    local, domain = first["email"].split("@")

    same_name = api.post(
        "/register/",
        {
            "username": _fullwidth(first["username"]),
            "email": f"{unique_name()}@example.com",
            "password": PASSWORD,
        },
        format="json",
    )
    assert same_name.status_code == 409, same_name.content
    assert same_name.json()["error"]["code"] == "username_taken"

    same_address = api.post(
        "/register/",
        {
            "username": unique_name(),
            "email": f"{local}@{_fullwidth(domain).upper()}",
            "password": PASSWORD,
        },
        format="json",
    )
    assert same_address.status_code == 409, same_address.content
    assert same_address.json()["error"]["code"] == "email_taken"

    # Written in fullwidth, a new name is stored in its plain form, and logs in either way.
    name = unique_name()
    created = register(api, username=_fullwidth(name), email=f"{name}@{_fullwidth('example.com')}")
    assert (created["username"], created["email"]) == (name, f"{name}@example.com")
    assert User.objects.filter(username=name, email=f"{name}@example.com").exists()
    assert login(_fullwidth(name))


def test_login_with_a_wrong_password_is_401(api):
    body = register(api)
    response = api.post(
        "/login/", {"username": body["username"], "password": "wrong-password1"}, format="json"
    )
    assert response.status_code == 401
    assert "error" in response.json()


def test_refresh_gives_a_new_access_token(api):
    body = register(api)
    tokens = api.post(
        "/login/", {"username": body["username"], "password": PASSWORD}, format="json"
    ).json()
    response = api.post("/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200
    assert response.json()["access"]
