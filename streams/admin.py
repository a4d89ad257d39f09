from django.contrib import admin

from access.admin import ReadOnlyAdmin

from .models import Stream


@admin.register(Stream)
class StreamAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Video streams and how they go, as their runner writes it; made and deleted through the API
    (POST, DELETE /streams), whose URL checks apply."""

    list_display = ["name", "collection", "fps", "running", "connected", "fps_achieved", "faces", "events", "last_error"]
    list_filter = ["connected"]
    fields = [
        "id", "name", "shown_url", "collection", "fps", "running", "connected", "fps_achieved", "frames", "faces",
        "events", "reconnects", "last_error", "last_error_at", "last_frame_at", "started_at", "ended_at", "runner",
        "lease_expires_at", "created_at", "created_by",
    ]
    readonly_fields = fields

    @admin.display(boolean=True, description="Running")
    def running(self, stream):
        return stream.running

    @admin.display(description="URL")
    def shown_url(self, stream):
        return stream.shown_url
