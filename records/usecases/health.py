"""What GET /health reports: to anyone, whether the service is up and which dependencies are down
(`down`: the database, the vector index, the photo store, the data disk full); to a key
holder or a staff session also the vector backend and, per embedding model key, whether it is
loaded in this process, the size of its index and the generation of the change log it has applied,
and the embeddings stored (how many faces are enrolled is not for anonymous callers)."""

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import DatabaseError, connection
from django.db.models import Count

from recognition.models import FaceVector
from recognition.policy import MatchPolicy
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index, of_photos
from records.models import FaceImage, Person
from records.unavailable import DATABASE, DISK, PHOTO_STORE, VECTOR_INDEX

logger = logging.getLogger(__name__)


def health_report(partitions: list[str] | None = None) -> dict:
    """With `partitions` (a key limited to some collections) the embeddings stored are theirs
    only, and the index's size, which counts everyone's, is not given."""
    service = get_service()
    vector_index = get_vector_index(service.model_key)
    index_answers, build = True, None
    try:
        vectors = of_photos(FaceVector.objects.all() if partitions is None else FaceVector.objects.filter(partition__in=partitions))
        counts = vectors.values("model_key").annotate(vectors=Count("id"))
        stored = {row["model_key"]: row["vectors"] for row in counts}
        vector_index.sync()  # the index as the next search would see it
        # Milvus indexes in the background: what is not indexed yet counts everyone's, as index_size.
        build = vector_index.index_build() if partitions is None else None
        database = True
    except DatabaseError:
        stored, database = {}, False
    except Exception:  # Milvus refused or timed out: searches would fail too
        logger.exception("The %s vector index does not answer", vector_index.backend)
        database, index_answers = True, False
    # This process's FAISS copy has a size even without the database; Milvus is asked only when up.
    index_size = vector_index.count() if (database and index_answers) or vector_index.backend == "faiss" else None
    if partitions is not None:
        index_size = None
    applied = vector_index.applied if database and index_answers else None
    # Vectors stored under another model key are left from an earlier model: a reembed is due.
    models = {
        key: {"active": False, "loaded": False, "index_size": None, "index_generation": None, "stored_vectors": count}
        for key, count in stored.items()
    }
    models[service.model_key] = {
        "active": True,
        "loaded": service.loaded,
        "index_size": index_size,
        "index_generation": applied.generation if applied else None,
        "stored_vectors": stored.get(service.model_key, 0) if database else None,
    }
    if build is not None:
        models[service.model_key]["index_build"] = build
    down = (
        [DATABASE] * (not database) + [VECTOR_INDEX] * (not index_answers)
        + [PHOTO_STORE] * (not photo_store_answers()) + [DISK] * disk_full()
    )
    return {
        "status": "unavailable" if down else "ok",
        "down": down,
        "database": database,
        "vector_backend": vector_index.backend,
        "models": models,
    }


def up_or_down() -> dict:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = True
    except DatabaseError:
        database = False
    down = [DATABASE] * (not database) + [DISK] * disk_full()
    return {"status": "unavailable" if down else "ok", "down": down}


def photo_store_answers() -> bool:
    """Whether a remote photo store (S3) answers: asked only for a key or a staff session, like the
    vector index, so an anonymous probe never costs a request to the bucket. A local store fails
    with its disk, which disk_full() reports."""
    if isinstance(default_storage, FileSystemStorage):
        return True
    try:
        default_storage.exists("health-check")  # a HEAD request; a missing object is an answer
    except Exception:  # unreachable, refused, timed out: reads and writes of photos would fail too
        logger.exception("The photo store does not answer")
        return False
    return True


def disk_full() -> bool:
    """Whether DATA_DIR's disk, or the local photo store's, has less room than one upload."""
    folders = {Path(settings.DATA_DIR)}
    if isinstance(default_storage, FileSystemStorage):
        folders.add(Path(default_storage.location))
    return any(shutil.disk_usage(folder).free < settings.MAX_UPLOAD_BYTES for folder in folders if folder.exists())


@dataclass(frozen=True)
class GallerySummary:
    """What the home page says of the gallery."""

    people: int
    photos: int
    other_model_photos: int  # embedded by another model: re-embed them to have them recognised
    model_key: str
    index_size: int
    threshold: float


def gallery_summary() -> GallerySummary:
    service = get_service()
    index = get_vector_index(service.model_key)
    index.sync()
    return GallerySummary(
        people=Person.objects.count(),
        photos=FaceImage.objects.count(),
        other_model_photos=of_photos(FaceVector.objects.exclude(model_key=service.model_key)).count(),
        model_key=service.model_key,
        index_size=index.count(),
        threshold=MatchPolicy.of(service.model_key).default_threshold,
    )
