from django.contrib import admin

from notifications.models import Contact, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "email", "subject", "status", "attempts", "sent_at")
    list_filter = ("kind", "status")
    search_fields = ("email", "=user_id", "=reference")
    readonly_fields = [f.name for f in Notification._meta.fields]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("username", "email", "user_id", "created_at")
    search_fields = ("username", "email", "=user_id")
