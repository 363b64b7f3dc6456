from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from users import services
from users.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Staff deactivate and delete users here; both go through the services, which publish
    UserDeactivated so the gateway stops honouring the user's tokens."""

    list_display = ("username", "email", "id", "is_staff", "is_active", "date_joined")
    search_fields = ("username", "email", "=id")

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        deactivated = change and "is_active" in form.changed_data and not obj.is_active
        super().save_model(request, obj, form, change)
        if deactivated:
            services.user_deactivate(user=obj)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.user_delete(user=obj)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_delete(user=user)
