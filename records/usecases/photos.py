"""Stored photos of people: serving one or its face thumbnail, each read audited; removing one."""

import uuid
from dataclasses import dataclass

from audit import log as audit
from records import thumbnails
from records.models import FaceImage

from .errors import NotFound


def open_audited(stored, what: str, action: str, target, detail: dict):
    """A stored file (a FieldFile) open for reading, its read audited. A row whose file went
    missing (a failed disk, a restore; `check_integrity` reports it) is NotFound, and no read."""
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise NotFound(f"The file of this {what} is missing.")
    audit.record_read(action, target=target, detail=detail)
    return handle


def open_photo(image: FaceImage):
    """The stored file of a photo, open for reading, its read audited."""
    return open_audited(image.image, "photo", audit.Action.READ_PHOTO, image.person_id, {"photo": str(image.pk)})


def face_thumbnail(image: FaceImage) -> bytes:
    """The face of a stored photo, cropped square with a margin and scaled down for lists (made
    once, then read from storage: records/thumbnails.py), its read audited."""
    thumbnail = thumbnails.face_thumbnail(image)
    audit.record_read(audit.Action.READ_PHOTO, target=image.person_id, detail={"photo": str(image.pk), "thumbnail": True})
    with thumbnail.storage.open(thumbnail.name, "rb") as handle:  # a few kilobytes: no file kept open
        return handle.read()


@dataclass(frozen=True)
class PhotoRemoved:
    id: uuid.UUID
    person_id: uuid.UUID
    photos_left: int  # the person's photos after it: with none they cannot be recognised


def remove_photo(image: FaceImage) -> PhotoRemoved:
    """Erase one photo with its file, thumbnail and vector (records/signals.py); the person stays."""
    removed_id = image.pk
    image.delete()
    left = FaceImage.objects.filter(person_id=image.person_id).count()
    return PhotoRemoved(removed_id, image.person_id, left)
