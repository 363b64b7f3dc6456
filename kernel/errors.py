"""One JSON shape for every error the API answers:

{"error": {"code": "invalid", "message": "...", "fields": {"amount": ["..."]}}}
"""

import logging
from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class DomainError(exceptions.APIException):
    """A refusal the caller can act on; subclasses set status_code, default_code, default_detail."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list) and detail and not all(isinstance(d, str) for d in detail):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}[{index}]" if prefix else str(index)))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(
            "invalid", "The request has invalid fields.", _flatten(exc.detail)
        )
    else:
        detail = getattr(exc, "detail", None)
        code = getattr(exc, "default_code", "error")
        if isinstance(detail, dict):
            # simplejwt's refusals carry {"detail": ..., "code": ..., "messages": [...]}: the
            # sentence and the code are the parts a client reads.
            code = detail.get("code") or code
            detail = detail.get("detail")
        if isinstance(detail, exceptions.ErrorDetail):
            code = detail.code or code
        elif isinstance(exc, exceptions.NotFound | exceptions.PermissionDenied):
            code = exc.default_code
        response.data = error_body(str(code), _sentence(detail))
    return response


def _sentence(detail: Any) -> str:
    text = " ".join(str(part) for part in detail) if isinstance(detail, list) else str(detail or "")
    text = text.strip() or "Error"
    return text if text.endswith((".", "?", "!")) else f"{text}."


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "No such resource."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal error."), status=500)


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "Invalid input",
    "401": "Missing or invalid token",
    "404": "Not found (or not yours)",
    "405": "Method not allowed",
    "409": "Refused by the current state",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "Idempotency-Key reused with another request",
    "429": "Too many requests",
}


def document_errors(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular hook: every operation may answer the error shape with these statuses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_STATUSES.items():
                responses.setdefault(
                    code,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
