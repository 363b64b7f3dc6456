import uuid
from decimal import Decimal

import factory

from billing.models import Account


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    user_id = factory.LazyFunction(uuid.uuid4)
    balance = Decimal("0.00")
