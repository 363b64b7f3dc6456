from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from users.selectors import user_get


class LoginApi(TokenObtainPairView):
    """Exchange a username and password for a JWT pair."""


class TokenRefreshApi(TokenRefreshView):
    """Exchange a refresh token for a new access token."""


class MeApi(APIView):
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
