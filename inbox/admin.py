"""The inbox in the admin: its clusters, read only (no crop shown: seeing faces is the Inbox page's,
audited there). Keeping unknown faces is set on the collection (records' Collection admin)."""

from django.contrib import admin
from django.db.models import Count

from access.admin import ReadOnlyAdmin

from .models import UnknownCluster


@admin.register(UnknownCluster)
class UnknownClusterAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Read only: dismissing erases faces with an audit event, which the Inbox page and the API do."""

    list_display = ["id", "collection", "model_key", "size", "reviewed", "created_at"]
    list_filter = ["collection", "reviewed"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(size=Count("faces"))

    @admin.display(description="Faces", ordering="size")
    def size(self, cluster):
        return cluster.size
