"""The index status page of the admin console: the vectors of each model key, where this
process's index stands, and buttons to rebuild it."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from facesite.admin import ReadOnlyAdmin

from .gallery import get_gallery
from .models import IndexState
from .service import get_service


@admin.register(IndexState)
class IndexStateAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    change_list_template = "admin/recognition/indexstate/change_list.html"
    list_display = ["model_key", "vectors", "generation", "epoch", "rebuilt_at", "in_this_process", "status"]
    actions = None

    def get_queryset(self, request):
        from records.models import FaceImage  # records builds on recognition, not the other way

        photos = FaceImage.objects.filter(model_key=OuterRef("pk")).order_by().values("model_key")
        count = photos.annotate(n=Count("pk")).values("n")
        return super().get_queryset(request).annotate(photo_vectors=Subquery(count))

    @admin.display(description="Vectors (stored photos)", ordering="photo_vectors")
    def vectors(self, state):
        return state.photo_vectors or 0

    @admin.display(description="Index in this process")
    def in_this_process(self, state):
        gallery = get_gallery(state.model_key)
        if gallery.epoch < 0:
            return "not loaded"
        position = "in step" if (gallery.epoch, gallery.generation) == (state.epoch, state.generation) else (
            "behind: catches up on its next search"
        )
        vectors = len(gallery.index)
        return f"{vectors} vector{pluralize(vectors)} at generation {gallery.generation}, {position}"

    @admin.display(description="Status")
    def status(self, state):
        if state.model_key == get_service().model_key:
            return "active model"
        return "stale: embedded by another model, re-embed to match these photos"

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": "Index status",
            "has_rebuild_permission": self.has_rebuild_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def has_rebuild_permission(self, request):
        return request.user.has_perm("recognition.change_indexstate")

    def get_urls(self):
        rebuild = self.admin_site.admin_view(self.rebuild_view)
        return [path("rebuild/", rebuild, name="recognition_indexstate_rebuild"), *super().get_urls()]

    @method_decorator(require_POST)
    def rebuild_view(self, request):
        from records.admin import report_reembed_failures
        from records.maintenance import rebuild_index

        if not self.has_rebuild_permission(request):
            raise PermissionDenied
        reembed = "reembed" in request.POST
        result = rebuild_index(reembed=reembed)
        vectors = result["total_vectors"]
        self.message_user(
            request,
            f"{'Re-embedded every photo and rebuilt' if reembed else 'Rebuilt'} the {result['model']} index: "
            f"{vectors} vector{pluralize(vectors)} in {result['duration_ms']:.0f} ms.",
            messages.SUCCESS,
        )
        report_reembed_failures(self, request, result["failed"], result["deleted_meanwhile"])
        return redirect("admin:recognition_indexstate_changelist")
