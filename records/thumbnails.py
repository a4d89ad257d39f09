"""Face thumbnails for the lists: made once per photo by easy-thumbnails and stored under
THUMBNAIL_BASEDIR, instead of decoding the original (up to MAX_IMAGE_PIXELS) on every list view
(bench/RESULTS.md, "List view").

They are photos of people too: served only by records.views.face_thumbnail (login and
records.view_person), never by a media URL, and erased with their photo (records/signals.py).
"""

from django.db import transaction
from django.http import Http404
from easy_thumbnails.exceptions import InvalidImageFormatError
from easy_thumbnails.files import get_thumbnailer
from easy_thumbnails.models import Source, Thumbnail

from . import erasure
from .models import FaceImage, PendingErasure

THUMBNAIL_SIDE = 160


def face_crop(image, face_box=None, **kwargs):
    """easy-thumbnails processor (settings.THUMBNAIL_PROCESSORS): the square around the face, before
    the default processors scale it down."""
    if face_box:
        image = image.crop(square_around(face_box, image.size))
    return image


def square_around(box, image_size) -> tuple[int, int, int, int]:
    """A square 1.6 times the face's size, centred on it and kept inside the image."""
    x, y, width, height = box
    image_width, image_height = image_size
    side = min(round(max(width, height) * 1.6), image_width, image_height)
    left = min(max(round(x + width / 2 - side / 2), 0), image_width - side)
    top = min(max(round(y + height / 2 - side / 2), 0), image_height - side)
    return left, top, left + side, top + side


def face_thumbnail(image: FaceImage):
    """The stored thumbnail of the photo's face, made now if it was not yet."""
    options = {"size": (THUMBNAIL_SIDE, THUMBNAIL_SIDE), "face_box": tuple(image.face_box), "quality": 85}
    try:
        thumbnail = get_thumbnailer(image.image).get_thumbnail(options)
    except (FileNotFoundError, InvalidImageFormatError):
        # Never made, and the photo's file is missing: `check_integrity` reports it.
        raise Http404("The file of this photo is missing.")
    if not FaceImage.objects.filter(pk=image.pk).exists():
        # Deleted while it was made: that delete's erasure ran before this file and its rows
        # existed, so it is erased here (its rows were written before this check, so a delete
        # committing after it finds and erases them itself).
        with transaction.atomic():
            forget_thumbnails(image.image.name)
        raise Http404("No such photo.")
    return thumbnail


def forget_thumbnails(photo_name: str) -> None:
    """Erase every thumbnail made of a stored photo (every face box it had), with the deleting
    transaction: their files through the durable erasure, easy-thumbnails' rows now."""
    sources = Source.objects.filter(name=photo_name)
    names = Thumbnail.objects.filter(source__in=sources).values_list("name", flat=True)
    erasure.schedule(*(PendingErasure(file_name=name) for name in names))
    sources.delete()  # and their Thumbnail rows, by cascade
