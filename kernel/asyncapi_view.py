"""The AsyncAPI document served beside the OpenAPI schema, generated at each request."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel import asyncapi


class YamlRenderer(BaseRenderer):
    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        return asyncapi.dump(data).encode()


class AsyncApiView(APIView):
    """The events' AsyncAPI 3 document: YAML, or JSON with ``?format=json``."""

    renderer_classes = [YamlRenderer, JSONRenderer]

    @extend_schema(exclude=True)  # a document of its own, not an operation of the HTTP API
    def get(self, request: Request) -> Response:
        return Response(asyncapi.document())
