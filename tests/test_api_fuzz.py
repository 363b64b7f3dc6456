"""Property-based fuzzing of the API.

From its own OpenAPI schema (schemathesis): whatever the input, no 5xx, and every response
matches the schema, with real workers behind the commands. And beyond the schema (Hypothesis):
request bodies and query strings of any shape (nested JSON, numbers in any script, control
characters, bytes that are not JSON) to every command and list: no 5xx, and every refusal in
the error shape. Both are bounded by their number of examples, so CI's time is too.
"""

import json
import uuid

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.checks import positive_data_acceptance

from billing.tests.factories import AccountFactory
from users.tests.factories import UserFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
_customer: dict[str, uuid.UUID | None] = {"user_id": None}


@pytest.fixture(autouse=True)
def funded_customer():
    """The user whose token the generated requests carry, with 500.00 on the account."""
    user = UserFactory()
    AccountFactory(user_id=user.id, balance="500.00")
    _customer["user_id"] = user.id
    yield user
    _customer["user_id"] = None


@schema.auth(refresh_interval=None)
class CustomerToken:
    """Schemathesis also sends requests without the token, or with a broken one, and expects
    401 for them."""

    def get(self, case, context) -> str:
        token = AccessToken()
        token["user_id"] = str(_customer["user_id"] or uuid.uuid4())
        return str(token)

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("live")
@schema.parametrize()
@hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_honours_its_schema(case):
    excluded = []
    if case.operation.path == "/register/":
        # The schema cannot say which passwords are too common or too like the username; those
        # are refused although they match it.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(excluded_checks=excluded)


FIELDS = [
    "username", "email", "password", "first_name", "last_name", "amount", "price",
    "description", "refresh", "kind", "status",
]  # fmt: skip
# Text that has broken parsers before: digits of other scripts, signs, exponents, spaces and
# line breaks around numbers, NUL, look-alike letters, JSON-like text.
TRICKY = [
    "10.00", "10.00\n", "2\n", " 5", "1\uff10", "\uff11\uff10", "1\u0660.\u0660\u0660",
    "5.\uff105", "\u00b2", "\U0001d7cf", "1e3", "-0", "+1", "NaN", "Infinity", "0x10",
    "1_000", "\x00", "\uff41\uff44\uff4d\uff49\uff4e", "a@\uff45xample.test",
    "4111 1111 1111 1111", "[[[[", "{}", "9" * 40,
]  # fmt: skip
text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=30),
    st.from_regex(r"[0-9\uff10-\uff19\u0660-\u0669\u00b2.+\-eE \n]{0,12}", fullmatch=True),
)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=5).map(json.dumps),
    values.map(json.dumps),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 5000).map(lambda depth: '{"price":' * depth + "1" + "}" * depth),
    st.binary(max_size=64).map(lambda raw: raw.decode("latin-1")),
)
COMMANDS = ["/register/", "/login/", "/token/refresh/", "/transaction/", "/order/", "/cancel/"]
LISTS = ["/order/", "/transaction/", "/notification/"]
FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _client(user_id: uuid.UUID) -> APIClient:
    token = AccessToken()
    token["user_id"] = str(user_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _assert_answered(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


@pytest.mark.django_db
@FUZZ
@given(path=st.sampled_from(COMMANDS), body=bodies)
def test_any_body_to_any_command_is_answered_without_a_5xx(funded_customer, settings, path, body):
    settings.GATEWAY_REPLY_TIMEOUT = 0.01  # nothing is sent (no commit): a valid one is a 202
    if path == "/cancel/":
        path = f"/order/{uuid.uuid4()}/cancel/"
    response = _client(funded_customer.id).post(path, body, content_type="application/json")
    _assert_answered(response)


@pytest.mark.django_db
@FUZZ
@given(path=st.sampled_from(LISTS), limit=text, offset=text)
def test_any_query_string_to_any_list_is_answered_without_a_5xx(
    funded_customer, path, limit, offset
):
    response = _client(funded_customer.id).get(path, {"limit": limit, "offset": offset})
    _assert_answered(response)
