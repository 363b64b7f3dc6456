"""Who may still act with a token: the gateway's list of users deactivated since their tokens
were issued, fed by UserDeactivated and read on every authenticated request.

The JWT alone identifies the caller (no request reads the users table), so a token stays
valid until it expires; the users domain's event is how a deactivation reaches the gateway.
The list lives in the shared cache, one key per user, as long as an access token lives: after
that every token issued before the deactivation has expired, and neither login nor refresh
issues one to an inactive user. A token issued after the deactivation (the user was
reactivated) is honoured again.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import Token


def _key(user_id: UUID | str) -> str:
    return f"gateway:deactivated:{user_id}"


def access_revoke(*, user_id: UUID, since: datetime) -> None:
    """Refuse the tokens of ``user_id`` issued up to ``since``."""
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    cache.set(_key(user_id), since.timestamp(), timeout=int(lifetime) + 60)


def access_revoked_at(*, user_id: UUID | str) -> float | None:
    return cache.get(_key(user_id))


class JWTAuthentication(JWTStatelessUserAuthentication):
    """simplejwt's stateless authentication, refusing a user deactivated since the token was
    issued (one cache read per request)."""

    def get_user(self, validated_token: Token) -> TokenUser:
        user = super().get_user(validated_token)
        revoked_at = access_revoked_at(user_id=user.id)
        issued_at: Any = validated_token.get("iat", 0)
        if revoked_at is not None and issued_at <= revoked_at:
            raise AuthenticationFailed("This account is no longer active.", code="user_inactive")
        return user
