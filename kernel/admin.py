"""What every domain's admin shares."""

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Model
from django.http import HttpRequest
from django.template.response import TemplateResponse


class ReadOnlyAdmin(admin.ModelAdmin):
    """A table only its domain writes, through its services and events: staff read it here and
    act only through the actions a page offers (a dead letter's replay), never by adding,
    changing or deleting a row the domain's invariants depend on."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def confirmation(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    template: str,
    *,
    title: str,
    breadcrumb: str,
    action: str,
    objects: Sequence[Model],
    submit: str,
    **context: Any,
) -> TemplateResponse:
    """The page an admin action shows before it acts: ``template`` extends
    admin/action_confirmation.html and says what will be done to ``objects``; its form posts
    ``action`` again for them with ``confirmed=yes`` (no button when there are none)."""
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "breadcrumb": breadcrumb,
            "opts": model_admin.model._meta,
            "action": action,
            "objects": objects,
            "submit": submit,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            **context,
        },
    )
