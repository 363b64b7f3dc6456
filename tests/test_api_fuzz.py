"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): whatever the
input, no 5xx, and every response matches the schema, with real workers behind the commands."""

import uuid

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
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
