"""Each model key's vector index, from the backend VECTOR_BACKEND names (recognition/vectors/).

Every change to the stored vectors of a model key bumps `IndexState.generation` in the same
transaction (an added FaceVector carries the generation it was added at; a removal leaves a
RemovedVector row). Before each search an index reads one row; when the generation moved it
applies only the rows after its own watermark, so several gunicorn workers answer as the database
says without ever reloading everything.
"""

import threading

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import IndexState, RemovedVector
from .base import VectorIndex


def _index_class() -> type[VectorIndex]:
    if settings.VECTOR_BACKEND == "milvus":
        from .milvus_backend import MilvusVectorIndex

        return MilvusVectorIndex
    from .faiss_backend import FaissVectorIndex

    return FaissVectorIndex


# Vectors kept apart from the people's under the same model (the review inbox's unknown faces): an
# index of their own, `<model key>#<purpose>`, kept in step with the database the same way, never
# searched by a match. Counts of a model's photos leave them out (`of_photos`).
PURPOSE_SEPARATOR = "#"


def purpose_key(model_key: str, purpose: str) -> str:
    return f"{model_key}{PURPOSE_SEPARATOR}{purpose}"


def of_photos(vectors):
    """The FaceVector queryset without the vectors of a purpose index."""
    return vectors.exclude(model_key__contains=PURPOSE_SEPARATOR)


_indexes: dict[tuple[str, str], VectorIndex] = {}
_indexes_lock = threading.Lock()


def get_vector_index(model_key: str) -> VectorIndex:
    index_class = _index_class()
    with _indexes_lock:
        key = (index_class.backend, model_key)
        if key not in _indexes:
            _indexes[key] = index_class(model_key)
        return _indexes[key]


def rebuild(model_key: str) -> VectorIndex:
    """Start a new epoch: every index reloads from the database on its next search."""
    with transaction.atomic():
        state, _ = IndexState.objects.select_for_update().get_or_create(model_key=model_key)
        state.epoch += 1
        state.rebuilt_at = timezone.now()
        state.save(update_fields=["epoch", "rebuilt_at"])
        # Every index reloads on the new epoch, so the removal log before it is not needed.
        RemovedVector.objects.filter(model_key=model_key, generation__lte=state.generation).delete()
    index = get_vector_index(model_key)
    index.reload()
    return index
