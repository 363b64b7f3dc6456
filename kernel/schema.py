"""How the API's OpenAPI schema is made."""

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTStatelessUserScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

from kernel.api import StrictSerializer

# What every DRF CharField refuses (ProhibitNullCharactersValidator), said as a pattern.
NO_NULL_CHARACTERS = r"^[^\u0000]*$"


class AutoSchema(SpectacularAutoSchema):
    """The schema says what the serializers do: strict ones refuse unknown fields, and text
    fields refuse the null character."""

    def _map_serializer(self, serializer: Any, direction: str, bypass_extensions: bool = False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema

    def _insert_field_validators(self, field: Any, schema: dict) -> None:
        super()._insert_field_validators(field, schema)
        if (
            isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "format" not in schema
            and "enum" not in schema
            and any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators)
        ):
            schema["pattern"] = NO_NULL_CHARACTERS


class JWTScheme(SimpleJWTStatelessUserScheme):
    """The API's authentication (simplejwt's, refusing deactivated users) is documented as
    simplejwt's bearer token."""

    target_class = "gateway.access.JWTAuthentication"
