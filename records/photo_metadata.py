"""Photos stored before uploads were re-encoded (issue 11) still carry what the camera wrote:
EXIF with GPS, XMP, ICC profiles, comments. `manage.py strip_photo_metadata` finds them and stores
each again as uploads are stored now: the upright pixels only (recognition.imaging.encode_for_storage).

The face box, landmarks and vector stay: they were found in the same upright pixels (decode_image
applied the EXIF orientation then as now). The old file and its thumbnails go through the durable
erasure, as a deleted photo's do.
"""

import io
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image

from recognition.errors import FaceError
from recognition.imaging import decode_image, encode_for_storage

from . import erasure, thumbnails
from .models import FaceImage, PendingErasure

# What Pillow reports of a file this service wrote itself: JPEG's JFIF header, nothing of a camera.
WRITTEN_BY_US = {
    "JPEG": {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"},
    "PNG": set(),
}


def carries_metadata(data: bytes) -> bool:
    """Whether a stored file holds anything beyond pixels: an allowlist of what our own encoder
    writes, so a kind of metadata nobody thought of is still found."""
    with Image.open(io.BytesIO(data)) as picture:
        allowed = WRITTEN_BY_US.get(picture.format)
        return allowed is None or not set(picture.info) <= allowed


@dataclass
class StripReport:
    stripped: list[str] = field(default_factory=list)  # photo ids stored again
    clean: int = 0
    deleted_meanwhile: int = 0
    failed: list[dict] = field(default_factory=list)  # photo id and why it was left as it was


def strip_stored_metadata(images, dry_run: bool = False) -> StripReport:
    report = StripReport()
    for image in images.iterator(chunk_size=200):
        try:
            with image.image.open("rb") as handle:
                data = handle.read()
            if not carries_metadata(data):
                report.clean += 1
                continue
            if dry_run:
                report.stripped.append(str(image.pk))
                continue
            upright = decode_image(data)
        except (FaceError, OSError) as exc:
            report.failed.append({"image_id": str(image.pk), "error": getattr(exc, "detail", str(exc))})
            continue
        if (upright.width, upright.height) != (image.width, image.height):
            # Its face box would not fit the pixels: leave it to a re-enrolment, say so.
            report.failed.append({"image_id": str(image.pk), "error": "stored size differs from the file's"})
            continue
        if _store_again(image, encode_for_storage(upright)):
            report.stripped.append(str(image.pk))
        else:
            report.deleted_meanwhile += 1
    return report


def _store_again(image: FaceImage, stored) -> bool:
    # The storage picks a free name beside the old one (an object store has no atomic rename).
    new_name = default_storage.save(f"{image.image.name.rsplit('.', 1)[0]}{stored.extension}", ContentFile(stored.data))
    try:
        with transaction.atomic():
            # Locked, so a delete cannot commit in between: it would erase the old file and leave
            # the new one behind, unnamed by any row.
            current = FaceImage.objects.select_for_update().filter(pk=image.pk).values_list("image", flat=True).first()
            if current is None:
                default_storage.delete(new_name)
                return False
            FaceImage.objects.filter(pk=image.pk).update(image=new_name)
            erasure.schedule(PendingErasure(file_name=current))
            thumbnails.forget_thumbnails(current)
    except BaseException:
        default_storage.delete(new_name)
        raise
    return True
