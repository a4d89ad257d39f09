from django.contrib import admin

from access.admin import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """The audit log, read-only for everyone: nothing here can add, change or delete an event."""

    list_display = ["at", "actor_type", "actor", "remote_addr", "action", "target", "status"]
    list_filter = ["action", "actor_type", "status"]
    search_fields = ["actor", "target", "remote_addr", "probe_sha256"]
    date_hierarchy = "at"
    fields = ["at", "actor_type", "actor", "remote_addr", "action", "target", "status", "detail",
              "probe_sha256", "kept_probe"]
    readonly_fields = fields

    # Its name in the media storage only: a kept probe is never served by URL.
    @admin.display(description="Probe photo kept (AUDIT_KEEP_PROBES)")
    def kept_probe(self, event):
        return event.probe.name or "—"
