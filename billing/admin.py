from django.contrib import admin

from billing.models import Account, LedgerEntry
from kernel.admin import ReadOnlyAdmin


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("created_at", "kind", "amount", "balance_after", "reference", "id")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "balance", "created_at", "updated_at")
    search_fields = ("=user_id", "=id")
    inlines = (LedgerEntryInline,)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "amount", "balance_after", "account", "reference")
    list_filter = ("kind",)
    search_fields = ("=id", "=reference", "=account__user_id")
