"""The gateway's commands: each becomes an event, and the answer event becomes the response."""

import re
from uuid import UUID, uuid4

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts.catalog import (
    OrderCancelRequested,
    OrderRequested,
    RegistrationRequested,
    TransactionRequested,
)
from gateway.answers import CANCEL, DEPOSIT, ORDER, REGISTER
from gateway.models import Operation, OrderRequest
from gateway.operations import answer, answer_of, correlation_of, send
from gateway.services import (
    fingerprint,
    operation_get,
    order_request_exists,
    order_request_get,
    order_request_record,
)
from kernel.money import money_str
from kernel.web.api import (
    EmailAddressField,
    IpRateThrottle,
    MoneyField,
    StrictSerializer,
    UsernameField,
    reject_card_numbers,
)
from kernel.web.errors import DomainError


@extend_schema_serializer(component_name="Pending")
class PendingSerializer(serializers.Serializer):
    status = serializers.CharField()
    operation = serializers.URLField()
    id = serializers.UUIDField(required=False, help_text="The order, for an order request.")


class RegisterThrottle(IpRateThrottle):
    scope = "register"


class RegisterApi(APIView):
    """Ask for an account. Answered when the users domain has created it (or refused)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (RegisterThrottle,)

    @extend_schema_serializer(component_name="Registration")
    class InputSerializer(StrictSerializer):
        # Compared by the users domain without regard to case; written in their compatibility
        # form, so spellings that only look different are one name (409, not a second user).
        username = UsernameField(
            max_length=150, validators=[UnicodeUsernameValidator(), reject_card_numbers]
        )
        email = EmailAddressField(max_length=254, validators=[reject_card_numbers])
        password = serializers.CharField(
            min_length=8,
            max_length=128,
            write_only=True,
            trim_whitespace=False,
            help_text="At least 8 characters; not common, not all digits, not like your names.",
        )
        first_name = serializers.CharField(
            max_length=150,
            required=False,
            default="",
            allow_blank=True,
            validators=[reject_card_numbers],
        )
        last_name = serializers.CharField(
            max_length=150,
            required=False,
            default="",
            allow_blank=True,
            validators=[reject_card_numbers],
        )

        def validate(self, attrs: dict) -> dict:
            # An unsaved instance of the configured user model, only for the similarity check.
            person = get_user_model()(**{k: v for k, v in attrs.items() if k != "password"})
            try:
                validate_password(attrs["password"], user=person)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from exc
            return attrs

    @extend_schema_serializer(component_name="RegisteredUser")
    class OutputSerializer(serializers.Serializer):
        user_id = serializers.UUIDField()
        username = serializers.CharField()
        email = serializers.EmailField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            202: PendingSerializer,
            400: OpenApiResponse(description="Invalid fields"),
            409: OpenApiResponse(description="Username or email taken"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        event = RegistrationRequested(
            user_id=uuid4(),
            username=fields["username"],
            email=fields["email"],
            password_hash=make_password(fields["password"]),
            first_name=fields["first_name"],
            last_name=fields["last_name"],
        )
        with transaction.atomic():
            send(REGISTER, request=request, event=event, user_id=None)
        status_url = reverse("register-status", args=[correlation_of(request)])
        # No account yet, so no token for /operation/: the status URL is where it reads its outcome.
        return answer(REGISTER, request=request, location=status_url, operation=status_url)


class DepositApi(APIView):
    """Put money on the caller's account. Answered when billing has credited it (or refused)."""

    @extend_schema_serializer(component_name="Deposit")
    class InputSerializer(StrictSerializer):
        amount = MoneyField()

    @extend_schema_serializer(component_name="DepositResult")
    class OutputSerializer(serializers.Serializer):
        transaction_id = serializers.UUIDField()
        kind = serializers.CharField()
        amount = serializers.CharField()
        balance = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 202: PendingSerializer, 409: OpenApiResponse()},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = TransactionRequested(
            transaction_id=uuid4(),
            user_id=request.user.id,
            amount=money_str(data.validated_data["amount"]),
            kind="deposit",
        )
        with transaction.atomic():
            send(DEPOSIT, request=request, event=event, user_id=request.user.id)
        return answer(DEPOSIT, request=request)


class IdempotencyKeyReused(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request."


_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY.match(key):
        raise serializers.ValidationError(
            {"Idempotency-Key": ["Use 1 to 255 visible ASCII characters."]}
        )
    return key


@extend_schema_serializer(component_name="OrderOutcome")
class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["confirmed", "rejected", "cancelled"])
    reason = serializers.CharField()
    price = serializers.CharField()
    description = serializers.CharField()
    refunded = serializers.CharField(required=False)


class OrderCreateApi(APIView):
    """Place an order. Answered when the saga has confirmed or rejected it.

    An Idempotency-Key header makes the request safe to repeat: the same key with the same
    body returns the same order and never debits twice; with another body it is refused (422).
    """

    @extend_schema_serializer(component_name="OrderPlacement")
    class InputSerializer(StrictSerializer):
        price = MoneyField()
        description = serializers.CharField(
            max_length=500,
            required=False,
            default="",
            allow_blank=True,
            validators=[reject_card_numbers],
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: OrderSerializer, 202: PendingSerializer, 422: OpenApiResponse()},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = _idempotency_key(request)
        user_id = request.user.id
        price, description = data.validated_data["price"], data.validated_data["description"]
        asked = fingerprint({"price": money_str(price), "description": description})
        order_id = uuid4()
        with transaction.atomic():
            record, created = order_request_record(
                order_id=order_id,
                user_id=user_id,
                correlation_id=correlation_of(request),
                price=price,
                description=description,
                key=key,
                fingerprint=asked,
            )
            if created:
                event = OrderRequested(
                    order_id=order_id, user_id=user_id, price=price, description=description
                )
                send(ORDER, request=request, event=event, user_id=user_id)
        # A replay waits for the first request's answer outside any transaction, so that it
        # gives its database connection back while it waits.
        if not created:
            return self._replay(request, record, asked)
        return answer(ORDER, request=request, **_pending_order(order_id))

    def _replay(self, request: Request, first: OrderRequest, asked: str) -> Response:
        """The first final answer of this key; until there is one, a pending answer."""
        if asked != first.fingerprint:
            raise IdempotencyKeyReused()
        return answer_of(
            correlation_id=first.correlation_id, request=request, **_pending_order(first.order_id)
        )


def order_accepted(request: Request, order_id: UUID) -> Response:
    """An order the gateway accepted from the caller that the orders domain has not placed yet:
    pending, with the request as its only step. The Location of a 202 never answers 404."""
    record = order_request_get(order_id=order_id, user_id=request.user.id)
    if record is None or record.price is None:
        raise NotFound("No such order.")
    return Response(
        {
            "id": str(record.order_id),
            "status": "pending",
            "reason": "",
            "price": money_str(record.price),
            "description": record.description,
            "refunded": None,
            "created_at": record.created_at,
            "updated_at": record.created_at,
            "timeline": [
                {"event": OrderRequested.type_name(), "domain": "gateway", "at": record.created_at}
            ],
        }
    )


def _order_url(order_id: UUID) -> str:
    return reverse("order-detail", args=[order_id])


def _pending_order(order_id: UUID) -> dict:
    return {"pending": {"id": str(order_id)}, "location": _order_url(order_id)}


class OrderCancelApi(APIView):
    """Cancel a confirmed order: its price is refunded, then it is cancelled."""

    @extend_schema_serializer(component_name="CancelInput")
    class InputSerializer(StrictSerializer):
        pass

    @extend_schema(
        request=None,
        responses={
            200: OrderSerializer,
            202: PendingSerializer,
            404: OpenApiResponse(),
            409: OpenApiResponse(),
        },
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        self.InputSerializer(data=request.data or {}).is_valid(raise_exception=True)
        if not order_request_exists(order_id=order_id, user_id=request.user.id):
            raise NotFound("No such order.")  # unknown, or another user's: nothing is sent
        event = OrderCancelRequested(order_id=order_id, user_id=request.user.id)
        with transaction.atomic():
            send(CANCEL, request=request, event=event, user_id=request.user.id)
        return answer(CANCEL, request=request, **_pending_order(order_id))


class OperationApi(APIView):
    """The outcome of one of the caller's requests that was answered 202."""

    @extend_schema_serializer(component_name="Operation")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        kind = serializers.CharField()
        status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
        status_code = serializers.IntegerField(allow_null=True)
        result = serializers.DictField(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, operation_id: UUID) -> Response:
        found = operation_get(correlation_id=operation_id)
        if found is None or not self.visible(found, request):
            raise NotFound()  # another user's request does not exist for this caller
        body = {
            "id": str(operation_id),
            "kind": found.kind,
            "status": "pending",
            "status_code": found.status_code,
            "result": found.body,
        }
        if found.settled_at is not None:
            body["status"] = "succeeded" if found.status_code < 400 else "failed"
        return Response(body)

    def visible(self, found: Operation, request: Request) -> bool:
        return found.user_id is not None and str(found.user_id) == str(request.user.id)


class RegistrationStatusApi(OperationApi):
    """The outcome of a registration that was answered 202 (no account yet, so no token)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def visible(self, found: Operation, request: Request) -> bool:
        return found.kind == REGISTER.kind
