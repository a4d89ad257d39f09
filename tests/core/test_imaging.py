import io

import pytest
from PIL import Image

from recognition.errors import ImageTooLarge, InvalidImage
from recognition.imaging import decode_image
from tests.images import decompression_bomb, encode


def test_decodes_a_real_photo(photo):
    image = decode_image(photo("George_W_Bush"))
    assert (image.width, image.height) == (250, 250)
    assert image.format == "JPEG" and image.extension == ".jpg"
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


def test_accepts_png_webp_and_bmp(photo):
    original = Image.open(io.BytesIO(photo("George_W_Bush")))
    for fmt, suffix in (("PNG", ".png"), ("WEBP", ".webp"), ("BMP", ".bmp")):
        decoded = decode_image(encode(original, fmt))
        assert decoded.extension == suffix


def test_an_upload_above_the_limit_is_refused_before_it_is_read(settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from records.services import read_photo

    class UnreadableUpload(SimpleUploadedFile):
        def read(self, *args):
            raise AssertionError("the upload was read")

    settings.MAX_UPLOAD_BYTES = 100
    with pytest.raises(ImageTooLarge, match="101 bytes; the limit is 100"):
        read_photo(UnreadableUpload("big.jpg", b"x" * 101))
