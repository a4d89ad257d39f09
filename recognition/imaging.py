"""Decode and validate an uploaded photo, once, before any model sees it."""

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLarge, InvalidImage

ACCEPTED_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "MPO": ".jpg"}


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # height x width x 3, uint8, upright
    format: str
    sha256: str

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def extension(self) -> str:
        return ACCEPTED_FORMATS[self.format]


def decode_image(data: bytes) -> DecodedImage:
    if not data:
        raise InvalidImage("The uploaded file is empty.")
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"The image is {len(data):,} bytes; the limit is {settings.MAX_UPLOAD_BYTES:,} bytes."
        )
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidImage("The file is not an image Pillow can read (use JPEG, PNG, WebP or BMP).")
    except Image.DecompressionBombError as exc:
        # Pillow's own guard, for headers far beyond even its limit.
        raise ImageTooLarge(f"The image has too many pixels; the limit is {settings.MAX_IMAGE_PIXELS:,} pixels. ({exc})")
    image_format = image.format
    if image_format not in ACCEPTED_FORMATS:
        raise InvalidImage(f"Unsupported image format {image_format}: use JPEG, PNG, WebP or BMP.")
    # Image.open has read only the header: refuse decompression bombs before decoding any pixel.
    width, height = image.size
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels; the limit is {settings.MAX_IMAGE_PIXELS:,} pixels."
        )
    if min(width, height) < settings.MIN_IMAGE_SIDE:
        raise InvalidImage(
            f"The image is {width}x{height} pixels; a face needs at least "
            f"{settings.MIN_IMAGE_SIDE} pixels on each side."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"The image could not be decoded (damaged or truncated file): {exc}")
    return DecodedImage(rgb=rgb, format=image_format, sha256=hashlib.sha256(data).hexdigest())
