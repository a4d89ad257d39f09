"""Recognition's indexes in the admin: one row per model key with its vectors, generation and epoch,
what this process's index (or the shared Milvus collection) holds, and whether the model is the
active one. Shown, never edited; the app that stores the vectors registers it with its
maintenance (records/admin.py: rebuild, re-embed), which reaches the photos recognition knows nothing of."""

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.template.defaultfilters import pluralize

from .vectors.indexes import get_vector_index
from .models import FaceVector
from .service import get_service


class IndexStateAdmin(admin.ModelAdmin):
    change_list_template = "admin/recognition/indexstate/change_list.html"
    list_display = ["model_key", "vectors", "generation", "epoch", "rebuilt_at", "index", "status"]
    actions = None

    def get_queryset(self, request):
        vectors = FaceVector.objects.filter(model_key=OuterRef("pk")).order_by().values("model_key")
        count = vectors.annotate(n=Count("pk")).values("n")
        return super().get_queryset(request).annotate(photo_vectors=Subquery(count))

    @admin.display(description="Vectors (stored photos)", ordering="photo_vectors")
    def vectors(self, state):
        return state.photo_vectors or 0

    @admin.display(description="Index (this process's FAISS, or the shared Milvus collection)")
    def index(self, state):
        index = get_vector_index(state.model_key)
        applied = index.applied
        if applied is None:
            return f"{index.backend}: not loaded"
        position = "in step" if (applied.epoch, applied.generation) == (state.epoch, state.generation) else (
            "behind: catches up on its next search"
        )
        vectors = index.count()
        return f"{index.backend}: {vectors} vector{pluralize(vectors)} at generation {applied.generation}, {position}"

    @admin.display(description="Status")
    def status(self, state):
        if state.model_key == get_service().model_key:
            return "active model"
        return "stale: embedded by another model, re-embed to match these photos"
