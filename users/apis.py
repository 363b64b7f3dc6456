from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from kernel.api import FieldRateThrottle, IpRateThrottle, StrictSerializer, UsernameField
from users.selectors import user_get


class LoginIpThrottle(IpRateThrottle):
    scope = "login_ip"


class LoginUserThrottle(FieldRateThrottle):
    """Guesses at one username are limited, from however many addresses they come."""

    scope = "login_user"
    field = "username"


@extend_schema_serializer(component_name="Login")
class LoginSerializer(StrictSerializer, TokenObtainPairSerializer):
    """simplejwt's login, refusing what is not a username at all before any lookup."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"] = UsernameField(
            max_length=150, validators=[UnicodeUsernameValidator()]
        )
        self.fields["password"] = serializers.CharField(
            max_length=128, trim_whitespace=False, write_only=True
        )


class LoginApi(TokenObtainPairView):
    """Exchange a username and password for a JWT pair."""

    serializer_class = LoginSerializer
    throttle_classes = (LoginIpThrottle, LoginUserThrottle)


@extend_schema_serializer(component_name="Refresh")
class RefreshSerializer(StrictSerializer, TokenRefreshSerializer):
    """simplejwt's refresh, refusing what is not shaped like a JWT before decoding it."""

    refresh = serializers.CharField(
        max_length=2048,
        validators=[
            RegexValidator(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", "Not a token.")
        ],
    )

    def validate(self, attrs: dict) -> dict:
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist as exc:
            # The user was deleted since the token was issued.
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from exc


class TokenRefreshApi(TokenRefreshView):
    """Exchange a refresh token for a new access token."""

    serializer_class = RefreshSerializer


class MeApi(APIView):
    @extend_schema_serializer(component_name="Me")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        username = serializers.CharField()
        email = serializers.EmailField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()
        date_joined = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        user = user_get(user_id=request.user.id)
        if user is None:
            raise NotFound()
        return Response(self.OutputSerializer(user).data)
