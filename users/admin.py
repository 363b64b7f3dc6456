from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from users import services
from users.models import User


class UserAddForm(AdminUserCreationForm):
    """Django's, asking for the email address too: the user's letters go there."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with that email address already exists.")
        return email


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Staff add, deactivate and delete users here, all through the services: a user added
    joins the system as a registered one does (UserCreated); one deactivated or deleted is
    announced with UserDeactivated, so the gateway stops honouring their tokens."""

    add_form = UserAddForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("username", "email", "id", "is_staff", "is_active", "date_joined")
    search_fields = ("username", "email", "=id")

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        if not change:
            services.user_add(user=obj)
            return
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
