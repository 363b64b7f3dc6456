"""The gateway's commands: each becomes an event, and the answer event becomes the response."""

from uuid import uuid4

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway import replies
from gateway.operations import execute, operation, operation_for
from kernel.api import MoneyField, StrictSerializer
from kernel.catalog import RegistrationRequested, TransactionRequested
from kernel.errors import error_body
from kernel.money import money_str

REJECTIONS = {
    "username_taken": "That username is already taken.",
    "email_taken": "That email address is already registered.",
    "no_account": "Your account is not open yet; try again in a moment.",
    "balance_limit": "The deposit would take the balance over its limit.",
}


def _rejected(envelope) -> tuple[int, dict]:
    reason = envelope.payload["reason"]
    return status.HTTP_409_CONFLICT, error_body(reason, REJECTIONS.get(reason, reason))


REGISTER = operation(
    "register",
    {
        "UserCreated": lambda e: (
            status.HTTP_201_CREATED,
            {k: e.payload[k] for k in ("user_id", "username", "email", "first_name", "last_name")},
        ),
        "RegistrationRejected": _rejected,
    },
)

DEPOSIT = operation(
    "deposit",
    {
        "TransactionCreated": lambda e: (
            status.HTTP_201_CREATED,
            {
                "transaction_id": e.payload["transaction_id"],
                "kind": "deposit",
                "amount": e.payload["amount"],
                "balance": e.payload["balance"],
            },
        ),
        "TransactionRejected": _rejected,
    },
)


class PendingSerializer(serializers.Serializer):
    status = serializers.CharField()
    operation = serializers.URLField()


class RegisterApi(APIView):
    """Ask for an account. Answered when the users domain has created it (or refused)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class InputSerializer(StrictSerializer):
        username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
        first_name = serializers.CharField(
            max_length=150, required=False, default="", allow_blank=True
        )
        last_name = serializers.CharField(
            max_length=150, required=False, default="", allow_blank=True
        )

        def validate(self, attrs: dict) -> dict:
            # An unsaved instance of the configured user model, only for the similarity check.
            person = get_user_model()(**{k: v for k, v in attrs.items() if k != "password"})
            try:
                validate_password(attrs["password"], user=person)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from exc
            return attrs

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
        return execute(REGISTER, request=request, event=event, user_id=None)


class DepositApi(APIView):
    """Put money on the caller's account. Answered when billing has credited it (or refused)."""

    class InputSerializer(StrictSerializer):
        amount = MoneyField()

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
        return execute(DEPOSIT, request=request, event=event, user_id=request.user.id)


class OperationApi(APIView):
    """The outcome of a request that was answered 202."""

    permission_classes = (AllowAny,)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        kind = serializers.CharField()
        status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
        status_code = serializers.IntegerField(allow_null=True)
        result = serializers.DictField(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, operation_id: str) -> Response:
        found = replies.operation_get(operation_id)
        if found is None:
            raise NotFound()
        meta, answers = found
        owner = meta.get("user_id")
        caller = getattr(request.user, "id", None)
        if owner is not None and str(caller) != owner:
            raise NotFound()  # another user's request does not exist for this caller
        op = operation_for(meta["kind"])
        settled = op.settled_by(answers) if op else None
        body = {
            "id": operation_id,
            "kind": meta["kind"],
            "status": "pending",
            "status_code": None,
            "result": None,
        }
        if settled is not None:
            code, result = op.render(settled)
            body.update(
                status="succeeded" if code < 400 else "failed", status_code=code, result=result
            )
        return Response(body)
