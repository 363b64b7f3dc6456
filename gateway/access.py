"""Who may still act with a token: the gateway's list of users deactivated since their tokens
were issued, fed by UserDeactivated and read on every authenticated request.

The JWT alone identifies the caller (no request reads the users table), so a token stays
valid until it expires; the users domain's event is how a deactivation reaches the gateway.
The list is a table of the gateway's (one row per user, read by primary key), not the cache:
Redis keeps nothing across a restart, and a revocation it forgot would let the old tokens in
again, while a cache that cannot be reached failed every request. A row is needed only as long
as an access token lives: after that every token issued before the deactivation has expired,
and neither login nor refresh issues one to an inactive user, so the hourly purge drops it. A
token issued after the deactivation (the user was reactivated) is honoured again.
"""

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import Token

from gateway.models import AccessRevocation


def access_revoke(*, user_id: UUID, since: datetime) -> None:
    """Refuse the tokens of ``user_id`` issued up to ``since`` (a later deactivation wins)."""
    AccessRevocation.objects.bulk_create(
        [AccessRevocation(user_id=user_id, since=since)],
        update_conflicts=True,
        unique_fields=["user_id"],
        update_fields=["since"],
    )


def access_revoked_at(*, user_id: UUID | str) -> float | None:
    since = AccessRevocation.objects.filter(pk=user_id).values_list("since", flat=True).first()
    return since.timestamp() if since else None


def access_revocations_expire() -> int:
    """Forget revocations older than any access token that they could still refuse."""
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] + timedelta(minutes=1)
    deleted, _ = AccessRevocation.objects.filter(since__lt=timezone.now() - lifetime).delete()
    return deleted


class JWTAuthentication(JWTStatelessUserAuthentication):
    """simplejwt's stateless authentication, refusing a user deactivated since the token was
    issued (one primary-key read per request)."""

    def get_user(self, validated_token: Token) -> TokenUser:
        user = super().get_user(validated_token)
        revoked_at = access_revoked_at(user_id=user.id)
        issued_at: Any = validated_token.get("iat", 0)
        if revoked_at is not None and issued_at <= revoked_at:
            raise AuthenticationFailed("This account is no longer active.", code="user_inactive")
        return user
