import uuid

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models.functions import Lower


class UserManager(DjangoUserManager):
    """``create_user`` and ``create_superuser`` (the createsuperuser command) save the user
    through users.services.user_add, so it joins the system as a registered one does.

    Not for migrations: a migration's historical model has no services to call.
    """

    use_in_migrations = False

    def _create_user(self, username: str, email: str, password: str | None, **extra) -> "User":
        from users.services import user_add  # the services are built on this model

        return user_add(user=self._create_user_object(username, email, password, **extra))


class User(AbstractUser):
    """A person who can log in. The id is made by the gateway and carried by the events."""

    objects = UserManager()

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", max_length=254)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(Lower("username"), name="users_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="users_email_ci_unique"),
        ]
