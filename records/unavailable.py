"""A dependency that is down answers 503 with `Retry-After` and a `detail` naming it, never a 500
or a traceback page: the database (stopped, unreachable, or SQLite's file locked or its disk full),
the data disk full (photos, the file cache), the vector index in Milvus, the photo store in S3.

Nothing a request was refused for is half-written: its transaction rolled back (a photo's row and
its vector commit together, records/models.py) and a photo file written in part is removed
(records/storage.py). /health names the dependencies down (records/usecases/health.py)."""

import errno

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

# Long enough for a restarted database or a freed disk, short enough for a client to carry on.
RETRY_AFTER_SECONDS = 30

DATABASE, DISK, VECTOR_INDEX, PHOTO_STORE = "database", "disk", "vector_index", "photo_store"
DETAILS = {
    DATABASE: "The database does not answer; the request was not carried out. Try again shortly.",
    DISK: "The data disk is full; nothing was stored. Try again once space has been freed.",
    VECTOR_INDEX: "The vector index (Milvus) does not answer; the request was not carried out. Try again shortly.",
    PHOTO_STORE: "The photo store does not answer; the request was not carried out. Try again shortly.",
}
FULL = {errno.ENOSPC, errno.EDQUOT}
# Errors of the client libraries that mean their server is unreachable or failing, by module, so
# that the service needs neither library imported to classify them (Milvus or S3 may be unused).
CLIENT_MODULES = {"pymilvus": VECTOR_INDEX, "botocore": PHOTO_STORE, "boto3": PHOTO_STORE}


def dependency_down(exc: BaseException | None) -> str | None:
    """Which dependency `exc` (or an exception it was raised from) says is down, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (OperationalError, InterfaceError)):
            # SQLite's "database or disk is full" is the disk's, not the database's.
            return DISK if "disk is full" in str(exc) else DATABASE
        if isinstance(exc, OSError) and exc.errno in FULL:
            return DISK
        module = type(exc).__module__.split(".")[0]
        if module in CLIENT_MODULES:
            return CLIENT_MODULES[module]
        exc = exc.__cause__ or exc.__context__
    return None


def unavailable_body(dependency: str) -> dict:
    return {"detail": DETAILS[dependency], "unavailable": dependency}


def unavailable_response(dependency: str) -> JsonResponse:
    response = JsonResponse(unavailable_body(dependency), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
