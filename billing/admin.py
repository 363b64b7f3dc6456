from django.contrib import admin

from billing.models import Account, LedgerEntry


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
class AccountAdmin(admin.ModelAdmin):
    list_display = ("user_id", "balance", "created_at", "updated_at")
    search_fields = ("=user_id", "=id")
    readonly_fields = ("id", "user_id", "balance", "created_at", "updated_at")
    inlines = (LedgerEntryInline,)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "amount", "balance_after", "account", "reference")
    list_filter = ("kind",)
    search_fields = ("=id", "=reference", "=account__user_id")
    readonly_fields = [f.name for f in LedgerEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
