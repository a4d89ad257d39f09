"""The first step of every use case on a photo: its bytes, read within the limit, decoded and run
through the pipeline (recognition/service.py)."""

from django.conf import settings

from recognition.backends.base import DetectedFace
from recognition.errors import FaceError, ImageTooLarge
from recognition.imaging import DecodedImage, decode_image, for_storage
from recognition.service import FaceAnalysis, get_service


def read_photo(upload) -> bytes:
    """The bytes of an uploaded file, refusing one above the limit before reading it into memory
    (Django spools large uploads to disk; reading one would load it whole)."""
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"The image is {upload.size:,} bytes; the limit is {settings.MAX_UPLOAD_BYTES:,} bytes."
        )
    return upload.read()


def analyse_photo(data: bytes, to_store: bool = False, embed_all: bool = False) -> FaceAnalysis:
    """Decode and run the pipeline, embedding the largest face (every face with `embed_all`);
    raises InvalidImage, ImageTooLarge. A photo to store is analysed as it will be stored:
    upright, re-encoded without its metadata."""
    image = decode_image(data)
    return get_service().analyse(for_storage(image) if to_store else image, embed_all=embed_all)


def analyse_photos(photos: list[bytes], to_store: bool = False) -> list[FaceAnalysis | FaceError]:
    """`analyse_photo` of each photo, their faces embedded together (bulk import); a photo that
    cannot be decoded gives its error in its place."""
    decoded: list[DecodedImage | FaceError] = []
    for data in photos:
        try:
            image = decode_image(data)
            decoded.append(for_storage(image) if to_store else image)
        except FaceError as exc:
            decoded.append(exc)
    analyses = iter(get_service().analyse_many([image for image in decoded if not isinstance(image, FaceError)]))
    return [image if isinstance(image, FaceError) else next(analyses) for image in decoded]


def quality_of(face: DetectedFace) -> dict | None:
    """The face's measured quality, rounded as answered (None when the pipeline gives no landmarks)."""
    return face.quality.as_dict() if face.quality else None
