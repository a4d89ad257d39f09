from django.contrib import admin

from .models import Attempt, Delivery, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "enabled", "disabled_reason", "failing_since", "collection", "created_at"]
    list_filter = ["enabled"]
    readonly_fields = ["disabled_reason", "failing_since", "created_at", "created_by"]
    fields = ["url", "events", "collection", "enabled", "disabled_reason", "failing_since", "created_at", "created_by"]

    def has_add_permission(self, request):
        return False  # made through POST /webhooks, which shows the secret once


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "status_code", "error", "duration_ms", "next_retry_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "receiver", "state", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["state"]
    readonly_fields = ["event", "webhook", "state", "attempts", "next_attempt_at", "delivered_at", "last_error", "task_id", "worker", "claimed_at"]
    exclude = []
    inlines = [AttemptInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
