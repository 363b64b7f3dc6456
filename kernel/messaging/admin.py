import json
from collections.abc import Iterator

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from kernel.admin import ReadOnlyAdmin, confirmation
from kernel.messaging.events import redacted
from kernel.messaging.models import DeadLetter, InboxEvent, OutboxEvent
from kernel.messaging.tasks import replay


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = (
        "type",
        "id",
        "correlation_id",
        "created_at",
        "dispatched_at",
        "dispatch_attempts",
    )
    list_filter = ("type",)
    search_fields = ("=id", "=correlation_id")
    # The envelope is shown with its secret fields hidden (a password hash).
    exclude = ("envelope",)
    readonly_fields = [f.name for f in OutboxEvent._meta.fields if f.name != "envelope"] + [
        "envelope_shown"
    ]
    date_hierarchy = "created_at"

    @admin.display(description="envelope")
    def envelope_shown(self, row: OutboxEvent) -> str:
        return _pretty(row.envelope)


@admin.register(InboxEvent)
class InboxEventAdmin(ReadOnlyAdmin):
    list_display = ("consumer", "event_type", "event_id", "received_at", "deliveries")
    list_filter = ("consumer", "event_type")
    search_fields = ("=event_id",)


class DeadLetterStateFilter(admin.SimpleListFilter):
    """Open dead letters by default: those whose event was applied after all need nobody."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("closed", "Closed: applied after all"), ("all", "All")]

    def choices(self, changelist: ChangeList) -> Iterator[dict]:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Open: needs an operator",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet:
        if self.value() == "all":
            return queryset
        return queryset.filter(closed_at__isnull=self.value() != "closed")


class ReplayedFilter(admin.SimpleListFilter):
    title = "replayed"
    parameter_name = "replayed"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "Replayed"), ("no", "Not replayed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(replayed_at__isnull=self.value() == "no")
        return queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = (
        "consumer",
        "event_type",
        "reason",
        "attempts",
        "created_at",
        "replayed_at",
        "closed_at",
    )
    list_filter = (DeadLetterStateFilter, ReplayedFilter, "consumer", "reason", "event_type")
    search_fields = ("=event_id",)
    exclude = ("message",)
    readonly_fields = [f.name for f in DeadLetter._meta.fields if f.name != "message"] + [
        "message_shown"
    ]
    actions = ("replay_selected",)

    @admin.display(description="message")
    def message_shown(self, letter: DeadLetter) -> str:
        return _pretty(letter.message)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        # The model's change permission stands for "may act on dead letters": rows never change.
        return request.user.has_perm("kernel.change_deadletter")

    @admin.action(
        description="Replay the selected messages to their consumer", permissions=["replay"]
    )
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]):
        """Asked first on a page listing what will be sent again, and to whom."""
        letters = list(queryset.order_by("created_at"))
        if request.POST.get("confirmed") != "yes":
            count = len(letters)
            return confirmation(
                self,
                request,
                "admin/kernel/deadletter/replay_confirmation.html",
                title="Replay dead letters?",
                breadcrumb="Replay",
                action="replay_selected",
                objects=letters,
                submit=f"Yes, replay {count} message{'s' if count != 1 else ''}",
            )
        for letter in letters:
            replay(letter)
        self.message_user(
            request,
            f"{len(letters)} message(s) sent again to their consumer; a dead letter closes once "
            "its consumer has applied the event.",
            messages.SUCCESS,
        )
        return None


def _pretty(message: object) -> str:
    return format_html("<pre>{}</pre>", json.dumps(redacted(message), indent=2, sort_keys=True))
