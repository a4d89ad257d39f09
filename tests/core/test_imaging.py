import io

import numpy as np
import pytest
from PIL import Image

from recognition.errors import ImageTooLarge, InvalidImage
from recognition.imaging import decode_image, encode_for_storage
from tests.images import decompression_bomb, encode


def test_decodes_a_real_photo(photo):
    image = decode_image(photo("George_W_Bush"))
    assert (image.width, image.height) == (250, 250)
    assert image.format == "JPEG" and not image.lossless
    assert len(image.sha256) == 64


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"just some text, not a picture", "not an image"),
        (encode(Image.new("RGB", (64, 64)), "GIF"), "Unsupported image format GIF"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>', "not an image"),
        (encode(Image.new("RGB", (1, 1))), "at least"),
    ],
)
def test_rejects_what_is_not_a_usable_image(data, message):
    with pytest.raises(InvalidImage, match=message):
        decode_image(data)


def test_rejects_a_truncated_jpeg(photo):
    data = photo("George_W_Bush")
    with pytest.raises(InvalidImage, match="truncated"):
        decode_image(data[: len(data) // 2])


def test_refuses_a_decompression_bomb_before_decoding():
    data = decompression_bomb()
    assert len(data) < 200_000
    with pytest.raises(ImageTooLarge, match="pixels"):
        decode_image(data)


def test_refuses_an_image_above_the_pixel_limit_by_its_header(settings):
    settings.MAX_IMAGE_PIXELS = 100 * 100
    with pytest.raises(ImageTooLarge, match="200x200 pixels; the limit is 10,000"):
        decode_image(encode(Image.new("RGB", (200, 200))))


def test_refuses_more_bytes_than_the_limit(settings, photo):
    settings.MAX_UPLOAD_BYTES = 1000
    with pytest.raises(ImageTooLarge, match="limit is 1,000 bytes"):
        decode_image(photo("George_W_Bush"))


def test_honours_exif_orientation():
    image = Image.new("RGB", (200, 100), "white")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    decoded = decode_image(buffer.getvalue())
    assert (decoded.width, decoded.height) == (100, 200)


@pytest.mark.parametrize(
    "fmt, options, stored_as",
    [
        ("JPEG", {"quality": 90}, ".jpg"),
        ("PNG", {}, ".png"),
        ("BMP", {}, ".png"),
        ("WEBP", {"quality": 90}, ".jpg"),
        ("WEBP", {"lossless": True}, ".png"),
    ],
    ids=["JPEG", "PNG", "BMP", "lossy WebP", "lossless WebP"],
)
def test_accepts_each_format_and_stores_lossless_ones_losslessly(photo, fmt, options, stored_as):
    original = Image.open(io.BytesIO(photo("George_W_Bush")))
    decoded = decode_image(encode(original, fmt, **options))
    assert decoded.format == fmt

    stored = encode_for_storage(decoded)

    assert stored.extension == stored_as
    again = decode_image(stored.data)
    if stored_as == ".png":
        assert np.array_equal(again.rgb, decoded.rgb)
    else:
        assert np.abs(again.rgb.astype(int) - decoded.rgb).mean() < 2


def test_only_the_accepted_parsers_read_the_bytes(monkeypatch, photo):
    # A TIFF holds a perfectly good picture, but its parser is never run: it is not accepted.
    from PIL import TiffImagePlugin

    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "_open", lambda self: pytest.fail("TIFF parser ran"))
    with pytest.raises(InvalidImage, match="Unsupported image format TIFF"):
        decode_image(encode(Image.open(io.BytesIO(photo("George_W_Bush"))), "TIFF"))


def test_a_jpeg_cut_inside_its_header_is_refused(photo):
    # Pillow reads JPEG markers in Image.open: cut there, it raises OSError, not a decode error.
    data = photo("George_W_Bush")
    with pytest.raises(InvalidImage, match="damaged or truncated"):
        decode_image(data[:300])


def test_an_upload_above_the_limit_is_refused_before_it_is_read(settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from records.usecases.analysis import read_photo

    class UnreadableUpload(SimpleUploadedFile):
        def read(self, *args):
            raise AssertionError("the upload was read")

    settings.MAX_UPLOAD_BYTES = 100
    with pytest.raises(ImageTooLarge, match="101 bytes; the limit is 100"):
        read_photo(UnreadableUpload("big.jpg", b"x" * 101))
