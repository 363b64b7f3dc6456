from uuid import UUID

from users.models import User


def user_get(*, user_id: UUID | str) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).first()
