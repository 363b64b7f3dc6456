"""Building blocks every domain's API uses: strict input serializers and the money field."""

from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import serializers

from kernel.money import MoneyError, money_str, parse_money


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know, instead of ignoring them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown[:20]}
                )
        return super().to_internal_value(data)


class MoneyField(serializers.Field):
    """A positive amount of money: "12.50" in, Decimal inside, "12.50" out."""

    default_error_messages = {"max": "The amount may be at most {maximum}."}

    def __init__(self, *, maximum: str | None = None, **kwargs: Any) -> None:
        self.maximum = maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        try:
            amount = parse_money(data)
        except MoneyError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc
        if amount <= 0:
            raise serializers.ValidationError("The amount must be greater than zero.", code="min")
        maximum = parse_money(self.maximum or settings.MAX_DEPOSIT)
        if amount > maximum:
            self.fail("max", maximum=money_str(maximum))
        return amount

    def to_representation(self, value: Decimal) -> str:
        return money_str(value)
