"""Decode and validate an uploaded photo, once, before any model sees it; and re-encode it for
storage without the metadata it came with."""

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLarge, InvalidImage

# Only these parsers ever read an upload's bytes: Pillow's other plugins (EPS, PSD, TIFF, ...)
# are never tried. A multi-picture JPEG (MPO) opens through the JPEG parser.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")
FORMAT_NAMES = "JPEG, PNG, WebP or BMP"

# What Pillow raises, from its parsers and decoders, on a damaged or hostile file: each is a 400.
# tests/core/test_decode_fuzz.py runs mutated real photos through decode_image to find any other.
DECODER_ERRORS = (
    OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError, struct.error,
    ZeroDivisionError, OverflowError, Image.DecompressionBombWarning,
)

# Stored photos are re-encoded from the decoded pixels, so no EXIF (GPS, camera serial, date),
# XMP, IPTC, ICC profile or comment survives. A lossy original is stored as a JPEG at this quality
# (one more generation of JPEG at 95 is not visible and keeps faces re-embeddable); a lossless one
# as PNG, losslessly.
STORED_JPEG_QUALITY = 95


@dataclass(frozen=True)
class StoredPhoto:
    data: bytes
    extension: str


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # height x width x 3, uint8, upright
    format: str
    sha256: str  # of the bytes as uploaded: what an idempotent import compares
    lossless: bool = False  # whether the upload's compression was lossless (PNG, BMP, lossless WebP)
    stored: StoredPhoto | None = None  # set by for_storage(): the file to store, whose pixels rgb are

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]


def encode_for_storage(image: DecodedImage) -> StoredPhoto:
    """The upright pixels, and nothing else of the upload: no metadata of any kind."""
    picture = Image.fromarray(image.rgb)
    buffer = io.BytesIO()
    if image.lossless:
        picture.save(buffer, "PNG")
        return StoredPhoto(buffer.getvalue(), ".png")
    picture.save(buffer, "JPEG", quality=STORED_JPEG_QUALITY)
    return StoredPhoto(buffer.getvalue(), ".jpg")


def for_storage(image: DecodedImage) -> DecodedImage:
    """The image as it will be stored: re-encoded without metadata and decoded again, so its face
    is found in exactly the stored pixels. Face boxes then fit the stored photo, and re-embedding
    it later (`rebuild_index --reembed`) gives back the very same vector."""
    stored = encode_for_storage(image)
    rgb = image.rgb if image.lossless else np.asarray(Image.open(io.BytesIO(stored.data)).convert("RGB"))
    return replace(image, rgb=rgb, stored=stored)


def decode_image(data: bytes) -> DecodedImage:
    if not data:
        raise InvalidImage("The uploaded file is empty.")
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"The image is {len(data):,} bytes; the limit is {settings.MAX_UPLOAD_BYTES:,} bytes."
        )
    image = _open(data)
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
    image_format = image.format
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            # In place, and no conversion of what is already RGB: each copy of a 2,400 px photo
            # cost 2-4 ms of a match (bench/RESULTS.md, issue 14).
            ImageOps.exif_transpose(image, in_place=True)
            rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except DECODER_ERRORS as exc:
        raise InvalidImage(f"The image could not be decoded (damaged or truncated file): {exc}")
    return DecodedImage(
        rgb=rgb,
        format=image_format,
        sha256=hashlib.sha256(data).hexdigest(),
        lossless=_is_lossless(image_format, data),
    )


def _open(data: bytes) -> Image.Image:
    """Read the header with the accepted parsers only."""
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        other = _other_format(data)
        if other:
            raise InvalidImage(f"Unsupported image format {other}: use {FORMAT_NAMES}.")
        raise InvalidImage(f"The file is not an image Pillow can read (use {FORMAT_NAMES}).")
    except Image.DecompressionBombError as exc:
        # Pillow's own guard, for headers far beyond even its limit.
        raise ImageTooLarge(f"The image has too many pixels; the limit is {settings.MAX_IMAGE_PIXELS:,} pixels. ({exc})")
    except DECODER_ERRORS as exc:  # a header that starts right and breaks (a truncated JPEG)
        raise InvalidImage(f"The image could not be decoded (damaged or truncated file): {exc}")


def _other_format(data: bytes) -> str | None:
    """The name of another format the bytes announce, for the error message: only each plugin's
    signature test on the first bytes runs (what Image.open itself looks at first), no parser."""
    Image.init()
    prefix = data[:16]
    for name in Image.ID:
        accept = Image.OPEN[name][1]
        if name in ACCEPTED_FORMATS or accept is None:
            continue
        try:
            if accept(prefix):
                return name
        except DECODER_ERRORS:  # a signature test that expects more bytes than a tiny file has
            continue
    return None


def _is_lossless(image_format: str, data: bytes) -> bool:
    if image_format in ("PNG", "BMP"):
        return True
    # A WebP file's image chunk is VP8L when lossless, VP8 when lossy (RFC 9649).
    return image_format == "WEBP" and b"VP8L" in data[12:4096]
