"""Building blocks every domain's API uses: the JSON parser, strict input serializers, the money
field, the card-number guard, throttles whose rates come from settings, and access to the API
docs."""

import hashlib
import io
import re
import unicodedata
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema_field
from rest_framework import parsers, permissions, serializers, throttling
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from kernel.money import AMOUNT_PATTERN, MAX_AMOUNT, MoneyError, money_str, parse_money

# Deeper than any body the API takes (two levels), far below what would exhaust Python's
# recursion limit while json decodes.
MAX_JSON_DEPTH = 32
# A string (skipped whole, escapes included) or one bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` nests arrays or objects deeper than ``limit``: one scan of its brackets
    outside strings, without recursion, so a body nested 10,000 deep costs microseconds."""
    depth = 0
    for token in _JSON_TOKENS.finditer(raw):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a body nested too deep before the decoder recurses into it."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context=None) -> Any:
        raw = stream.read()
        if json_too_deep(raw):
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.")
        return super().parse(io.BytesIO(raw), media_type, parser_context)


def identity(value: str) -> str:
    """A username or email as stored: its Unicode compatibility form (NFKC), so "admin" in
    fullwidth letters is "admin", and so is an email domain written in them."""
    return unicodedata.normalize("NFKC", value)


def identity_key(value: str) -> str:
    """What two usernames or emails share when they name the same account: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", identity(value).casefold())


class _CompatibilityForm:
    """Turns the text into its NFKC form before any validator sees it."""

    def to_internal_value(self, data: Any) -> str:
        return identity(super().to_internal_value(data))


class UsernameField(_CompatibilityForm, serializers.CharField):
    """A username as stored and compared: NFKC (fullwidth "admin" is "admin")."""


class EmailAddressField(_CompatibilityForm, serializers.EmailField):
    """An email address as stored and compared: NFKC (a fullwidth domain is the ASCII one)."""


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
        if not _AMOUNT.fullmatch(data):
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
    """Counts requests per value of one body field, whatever address they come from: of the
    API's JSON body, or of a form (the admin's login)."""

    field = "username"

    def get_cache_key(self, request: Request | HttpRequest, view: Any) -> str | None:
        data = request.data if isinstance(request, Request) else request.POST
        value = data.get(self.field) if hasattr(data, "get") else None
        if not isinstance(value, str):
            return None
        ident = hashlib.sha256(identity_key(value.strip()).encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class DocsAccess(permissions.BasePermission):
    """The OpenAPI schema and docs: public where API_DOCS_PUBLIC, else for staff logged in to
    the admin."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return settings.API_DOCS_PUBLIC or bool(user and user.is_active and user.is_staff)


_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit and offset as documented: whole numbers in range, or 400 (DRF ignores bad ones)."""

    default_limit = 50
    max_limit = 200
    max_offset = 1_000_000

    def _read(self, request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        # ASCII digits only: str.isdigit() also takes a superscript two (which int() refuses) and
        # fullwidth digits (which int() reads).
        if not _WHOLE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
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
