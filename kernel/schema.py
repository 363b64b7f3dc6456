"""How the API's OpenAPI schema is made."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from kernel.api import StrictSerializer


class AutoSchema(SpectacularAutoSchema):
    """The schema says what the strict serializers do: unknown fields are refused."""

    def _map_serializer(self, serializer: Any, direction: str, bypass_extensions: bool = False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema
