"""Images made in the test, for inputs no real photo provides (no face, damaged, odd formats)."""

import io

import numpy as np
from PIL import Image, ImageFilter


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def faceless_photo(size=(320, 240)) -> bytes:
    """Smooth colour gradients with some noise: a picture, but nobody in it."""
    width, height = size
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    rng = np.random.default_rng(7)
    pixels = np.concatenate([x * 200 + 30 + 0 * y, y * 180 + 40 + 0 * x, (x + y) * 90 + 20], axis=2)
    pixels = pixels + rng.normal(0, 6, pixels.shape)
    return encode(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)))


def decompression_bomb(side: int = 30000) -> bytes:
    """A PNG of side x side pixels that compresses to a few kilobytes."""
    return encode(Image.new("1", (side, side)), "PNG", optimize=True)


def tiled(photos: list[bytes], columns: int = 3, side: int = 160) -> bytes:
    """One JPEG of several portraits side by side: each photo's centre, `side` pixels square (an
    LFW portrait's face is centred; the crop leaves out most bystanders at its edges)."""
    tiles = []
    for data in photos:
        with Image.open(io.BytesIO(data)) as portrait:
            width, height = portrait.size
            left, top = (width - side) // 2, (height - side) // 2
            tiles.append(portrait.convert("RGB").crop((left, top, left + side, top + side)))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (side * min(columns, len(tiles)), side * rows), (128, 128, 128))
    for number, tile in enumerate(tiles):
        sheet.paste(tile, ((number % columns) * side, (number // columns) * side))
    return encode(sheet, quality=92)


def altered(data: bytes, change) -> bytes:
    """The photo with `change` (a function of a PIL image) applied, as a JPEG."""
    with Image.open(io.BytesIO(data)) as picture:
        return encode(change(picture.convert("RGB")), quality=95)


def downscaled(data: bytes, side: int = 64) -> bytes:
    """A portrait shrunk to `side` pixels square: a face too small to enrol."""
    return altered(data, lambda picture: picture.resize((side, side), Image.LANCZOS))


def blurred(data: bytes, radius: float = 4) -> bytes:
    """A portrait out of focus."""
    return altered(data, lambda picture: picture.filter(ImageFilter.GaussianBlur(radius)))


def enlarged(data: bytes, factor: int) -> bytes:
    """A portrait `factor` times its size: the same face with `factor` times the pixels."""
    return altered(data, lambda picture: picture.resize((picture.width * factor, picture.height * factor), Image.LANCZOS))
