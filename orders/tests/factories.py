import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from orders.models import Order


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyFunction(uuid.uuid4)
    price = Decimal("10.00")
    status = Order.Status.CONFIRMED
    deadline_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=1))
