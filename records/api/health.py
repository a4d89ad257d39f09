"""What GET /health reports: to anyone, whether the service is up (the database answers); to a key
holder or a staff session also, per embedding model key, whether it is loaded in this process,
the size of this process's index and the embeddings stored (how many faces are enrolled is not
for anonymous callers)."""

from django.db import DatabaseError, connection
from django.db.models import Count

from recognition.gallery import get_gallery
from recognition.models import FaceVector
from recognition.service import get_service


def health_report() -> dict:
    service = get_service()
    gallery = get_gallery(service.model_key)
    try:
        counts = FaceVector.objects.values("model_key").annotate(vectors=Count("id"))
        stored = {row["model_key"]: row["vectors"] for row in counts}
        gallery.sync()  # the index as the next search would see it
        database = True
    except DatabaseError:
        stored, database = {}, False
    # Vectors stored under another model key are left from an earlier model: a reembed is due.
    models = {
        key: {"active": False, "loaded": False, "index_size": None, "stored_vectors": count}
        for key, count in stored.items()
    }
    models[service.model_key] = {
        "active": True,
        "loaded": service.loaded,
        "index_size": len(gallery.index),
        "stored_vectors": stored.get(service.model_key, 0) if database else None,
    }
    return {"status": "ok" if database else "unavailable", "database": database, "models": models}


def up_or_down() -> dict:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = True
    except DatabaseError:
        database = False
    return {"status": "ok" if database else "unavailable"}
