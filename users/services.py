import logging
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from contracts.catalog import RegistrationRejected, UserCreated, UserDeactivated
from kernel.messaging.outbox import publish
from users.models import User

logger = logging.getLogger(__name__)


def _taken(*, username: str, email: str) -> str | None:
    if User.objects.filter(username__iexact=username).exists():
        return "username_taken"
    if User.objects.filter(email__iexact=email).exists():
        return "email_taken"
    return None


def user_register(
    *,
    user_id: UUID,
    username: str,
    email: str,
    password_hash: str,
    first_name: str = "",
    last_name: str = "",
) -> User | None:
    """Create the user unless the username or email is taken; publish the outcome either way."""
    reason = _taken(username=username, email=email)
    user = None
    if reason is None:
        try:
            with transaction.atomic():
                user = User.objects.create(
                    id=user_id,
                    username=username,
                    email=email,
                    password=password_hash,
                    first_name=first_name,
                    last_name=last_name,
                )
        except IntegrityError:
            # A concurrent registration took the name between the check and the insert.
            reason = _taken(username=username, email=email) or "username_taken"
    if user is None:
        logger.info("registration %s rejected: %s", user_id, reason)
        publish(RegistrationRejected(user_id=user_id, reason=reason))
        return None
    _announce(user=user)
    return user


@transaction.atomic
@transaction.atomic
def user_add(*, user: User) -> User:
    """Save a user made by staff (the admin's Add user, ``createsuperuser``) and announce it as
    a registration does: billing opens its account, notifications learns where to write."""
    if not user.email:
        raise ValidationError("A user needs an email address to join the system.")
    user.save()
    _announce(user=user)
    return user


def _announce(*, user: User) -> None:
    publish(
        UserCreated(
            user_id=user.id,
            username=user.username,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
        )
    )


@transaction.atomic
def user_deactivate(*, user: User) -> None:
    """Stop ``user`` from logging in, and tell every domain that keeps them acting."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    publish(UserDeactivated(user_id=user.id, reason="deactivated"))


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete ``user``; their tokens stop working as for a deactivation."""
    user_id = user.id
    user.delete()
    publish(UserDeactivated(user_id=user_id, reason="deleted"))
