"""Building blocks every domain's API uses: strict input serializers, the money field, the
card-number guard, throttles whose rates come from settings, and access to the API docs."""

import hashlib
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import permissions, serializers, throttling
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from kernel.money import AMOUNT_PATTERN, MAX_AMOUNT, MoneyError, money_str, parse_money


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses what DRF would quietly accept: fields it does not know,
    and numbers or booleans where text is expected."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            errors = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            for name, field in self.fields.items():
                value = data.get(name)
                if (
                    isinstance(field, serializers.CharField)
                    and value is not None
                    and not (isinstance(value, str))
                ):
                    errors[name] = ["Not a string."]
            if errors:
                raise serializers.ValidationError(dict(list(errors.items())[:20]))
        return super().to_internal_value(data)


_AMOUNT = re.compile(AMOUNT_PATTERN)


@extend_schema_field(
    {
        "type": "string",
        "pattern": AMOUNT_PATTERN,
        "example": "12.50",
        "description": f"From 0.01 to {MAX_AMOUNT}, at most two decimals.",
    }
)
class MoneyField(serializers.Field):
    """An amount a client asks to move: "12.50" in, Decimal inside, "12.50" out."""

    default_error_messages = {"max": "The amount may be at most {maximum}."}

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str):
            raise serializers.ValidationError(
                'Enter the amount as a string, such as "12.50".', code="invalid"
            )
        try:
            amount = parse_money(data)
        except MoneyError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc
        if amount <= 0:
            raise serializers.ValidationError("The amount must be greater than zero.", code="min")
        if amount > MAX_AMOUNT:
            self.fail("max", maximum=money_str(MAX_AMOUNT))
        if not _AMOUNT.match(data):
            raise serializers.ValidationError("Write the amount without leading zeros.")
        return amount

    def to_representation(self, value: Decimal) -> str:
        return money_str(value)


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^-?\d+\.\d{2}$",
        "example": "-12.50",
        "description": "An amount with two decimals; negative for what left the account.",
    }
)
class MoneyOutputField(serializers.Field):
    """A stored amount, signed, as the API shows it: "12.50", "-12.50"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Decimal) -> str:
        return money_str(value)


# 13 to 19 digits, optionally grouped by spaces or dashes, starting as card networks' numbers do
# (2 to 6), and passing the Luhn check: the shape of a payment card number.
_CARD_LIKE = re.compile(r"(?<!\d)[2-6](?:[ -]?\d){12,18}(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    return any(_luhn(re.sub(r"[ -]", "", m.group())) for m in _CARD_LIKE.finditer(text))


def reject_card_numbers(value: str) -> None:
    """Refuse text holding what looks like a card number: it would travel on the broker."""
    if looks_like_card_number(value):
        raise serializers.ValidationError(
            "This looks like a payment card number; it may not be sent here.",
            code="card_number",
        )


class SettingsRateThrottle(throttling.SimpleRateThrottle):
    """A throttle whose rate is read from ``settings.THROTTLE_RATES[scope]`` at every request
    (None: no limit), so each environment, and each test, can set its own."""

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(self.scope)


class IpRateThrottle(SettingsRateThrottle):
    """Counts requests per client address (``NUM_PROXIES`` says how many proxies to trust)."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class FieldRateThrottle(SettingsRateThrottle):
    """Counts requests per value of one body field, whatever address they come from."""

    field = "username"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        value = request.data.get(self.field) if isinstance(request.data, dict) else None
        if not isinstance(value, str):
            return None
        ident = hashlib.sha256(value.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class DocsAccess(permissions.BasePermission):
    """The OpenAPI schema and docs: public where API_DOCS_PUBLIC, else for staff logged in to
    the admin."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return settings.API_DOCS_PUBLIC or bool(user and user.is_active and user.is_staff)


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit and offset as documented: whole numbers in range, or 400 (DRF ignores bad ones)."""

    default_limit = 50
    max_limit = 200
    max_offset = 1_000_000

    def _read(self, request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise serializers.ValidationError({name: [f"A whole number from {low} to {high}."]})
        return int(raw)

    def get_limit(self, request: Request) -> int:
        return self._read(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._read(request, self.offset_query_param, 0, 0, self.max_offset)

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        bounds = {
            self.limit_query_param: (1, self.max_limit),
            self.offset_query_param: (0, self.max_offset),
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"] = {"type": "integer", "minimum": low, "maximum": high}
        return parameters
