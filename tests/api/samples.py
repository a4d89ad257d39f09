"""Files that are not usable photos, made in memory."""

import struct
import zlib

from PIL import Image

from tests.images import encode


def image_bytes(size=(64, 64), image_format="PNG") -> bytes:
    """A plain image of any size and format (nobody in it)."""
    return encode(Image.new("RGB", size, (200, 120, 90)), image_format)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims width x height pixels: a decompression
    bomb as far as anything that trusts the header and starts decoding is concerned."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9))
        + chunk(b"IEND", b"")
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><circle cx="100" cy="100" r="80"/></svg>'
TEXT = b"This is a text file, not a photo.\n"


def upload(data: bytes, name: str = "photo.jpg"):
    """A file field for the test client's multipart bodies."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)
