"""Data minimisation at ingest: a stored photo keeps the pixels (upright) and nothing else of the
upload: no EXIF, GPS, XMP, ICC profile or comment. The upload's SHA-256 is recorded, so importing
the same file again adds nothing."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from PIL import ExifTags, Image, ImageCms

from records.models import FaceImage

from .samples import upload

pytestmark = pytest.mark.django_db

GPS = ExifTags.IFD.GPSInfo
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.3N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def with_metadata(original: bytes, orientation: int = 1, transpose=None, crop=None) -> bytes:
    """The photo as a phone would store it: GPS position, camera, XMP, ICC profile, a comment, and
    optionally its pixels turned, with the EXIF orientation that turns them upright again."""
    picture = Image.open(io.BytesIO(original))
    if crop:
        picture = picture.crop(crop)
    if transpose is not None:
        picture = picture.transpose(transpose)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(GPS)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.6)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.2)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=95, exif=exif, xmp=XMP, icc_profile=icc, comment=b"taken at home")
    return buffer.getvalue()


def stored(image: FaceImage) -> bytes:
    return Path(image.image.path).read_bytes()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def assert_no_metadata(data: bytes):
    picture = Image.open(io.BytesIO(data))
    assert dict(picture.getexif()) == {}
    assert picture.getexif().get_ifd(GPS) == {}
    assert not {"exif", "xmp", "icc_profile", "comment"} & set(picture.info), picture.info
    for trace in (b"Exif\x00\x00", b"PhoneMaker", b"xmpmeta", b"taken at home", b"GPS"):
        assert trace not in data


def test_a_photo_with_gps_is_stored_without_any_of_its_metadata(api, photo):
    upload_bytes = with_metadata(photo("Colin_Powell", 0))
    source = Image.open(io.BytesIO(upload_bytes))
    assert source.getexif().get_ifd(GPS)[ExifTags.GPS.GPSLatitudeRef] == "N"  # the test photo has it
    assert b"xmpmeta" in upload_bytes and "icc_profile" in source.info

    response = api.post("/records", {"name": "Colin Powell", "image": upload(upload_bytes)}, format="multipart")

    assert response.status_code == 201, response.json()
    image = FaceImage.objects.get()
    data = stored(image)
    assert_no_metadata(data)
    assert image.image.name.endswith(".jpg")
    # Same picture, re-encoded at high quality.
    assert np.abs(pixels(data) - pixels(upload_bytes)).mean() < 2
    assert image.sha256 == hashlib.sha256(upload_bytes).hexdigest()
    # The API serves the stored, clean file.
    download = api.get(f"/records/{image.person_id}/images/{image.pk}")
    assert b"".join(download.streaming_content) == data


def test_a_photo_turned_by_its_exif_orientation_is_stored_upright(api, photo):
    original = photo("Colin_Powell", 0)
    upright = Image.open(io.BytesIO(original)).crop((20, 0, 230, 250))  # 210x250: not square
    # Stored sideways (turned a quarter to the left), with Orientation 6: "turn right to display".
    sideways = with_metadata(original, orientation=6, transpose=Image.Transpose.ROTATE_90, crop=(20, 0, 230, 250))
    assert Image.open(io.BytesIO(sideways)).size == (250, 210)

    response = api.post("/records", {"name": "Colin Powell", "image": upload(sideways)}, format="multipart")

    assert response.status_code == 201, response.json()
    image = FaceImage.objects.get()
    data = stored(image)
    assert_no_metadata(data)
    assert Image.open(io.BytesIO(data)).size == (210, 250) == (image.width, image.height)
    assert np.abs(pixels(data) - np.asarray(upright, dtype=np.int16)).mean() < 3
    # The face box is in the stored (upright) pixels: it frames the face, which is in the upper
    # middle of an LFW portrait, not in a sideways photo's coordinates.
    x, y, width, height = image.face_box
    assert 40 < x + width / 2 < 170 and 60 < y + height / 2 < 160
    # And the stored photo is the one recognised.
    match = api.post("/records/match", {"image": upload(photo("Colin_Powell", 1))}, format="multipart").json()
    assert match["best_match"]["id"] == str(image.person_id)


def test_a_lossless_photo_is_stored_losslessly_without_its_text_chunks(api, photo):
    picture = Image.open(io.BytesIO(photo("Colin_Powell", 0)))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    buffer = io.BytesIO()
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "taken at home")
    picture.save(buffer, "PNG", exif=exif, pnginfo=text)
    png = buffer.getvalue()

    response = api.post("/records", {"name": "Colin Powell", "image": upload(png, "photo.png")}, format="multipart")

    assert response.status_code == 201, response.json()
    image = FaceImage.objects.get()
    data = stored(image)
    assert image.image.name.endswith(".png")
    assert_no_metadata(data)
    assert "Comment" not in Image.open(io.BytesIO(data)).info
    assert np.array_equal(pixels(data), pixels(png))


def test_importing_the_same_photo_again_adds_nothing(api, photo, tmp_path, capsys):
    upload_bytes = with_metadata(photo("Colin_Powell", 0))
    folder = tmp_path / "people" / "Colin Powell"
    folder.mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(upload_bytes)

    call_command("import_faces", str(tmp_path / "people"), workers=1)
    assert_no_metadata(stored(FaceImage.objects.get()))
    call_command("import_faces", str(tmp_path / "people"), workers=1)

    assert "images enrolled: 0; already stored: 1" in capsys.readouterr().out
    assert FaceImage.objects.count() == 1


def test_a_kept_probe_is_stored_without_its_metadata(api, bush, photo, settings):
    from audit.models import AuditEvent

    settings.AUDIT_KEEP_PROBES = True
    probe = with_metadata(photo("George_W_Bush", 1))

    assert api.post("/records/match", {"image": upload(probe)}, format="multipart").status_code == 200

    event = AuditEvent.objects.get(action=AuditEvent.Action.MATCH)
    kept = Path(event.probe.path).read_bytes()
    assert_no_metadata(kept)
    assert event.probe_sha256 == hashlib.sha256(probe).hexdigest()  # the upload's, as sent


def test_photos_stored_before_re_encoding_are_stored_again_without_their_metadata(
    api, photo, capsys, django_capture_on_commit_callbacks
):
    from easy_thumbnails.models import Source

    from records.thumbnails import face_thumbnail

    original = photo("Colin_Powell", 0)
    sideways = with_metadata(original, orientation=6, transpose=Image.Transpose.ROTATE_90, crop=(20, 0, 230, 250))
    response = api.post("/records", {"name": "Colin Powell", "image": upload(sideways)}, format="multipart")
    image = FaceImage.objects.get()
    upright = pixels(stored(image))
    before = (image.face_box, image.face_vector_id, image.width, image.height)
    # As versions before the re-encoding stored it: the upload's own bytes, its GPS and camera.
    Path(image.image.path).write_bytes(sideways)
    old_name, old_path = image.image.name, Path(image.image.path)
    thumbnail_path = Path(face_thumbnail(image).path)
    assert response.status_code == 201 and thumbnail_path.exists()

    call_command("strip_photo_metadata", dry_run=True)
    assert "would store again: 1, already clean: 0" in capsys.readouterr().out
    assert old_path.read_bytes() == sideways
    with django_capture_on_commit_callbacks(execute=True):
        call_command("strip_photo_metadata")

    assert "stored again: 1, already clean: 0, deleted meanwhile: 0, failed: 0" in capsys.readouterr().out
    image.refresh_from_db()
    data = stored(image)
    assert_no_metadata(data)
    assert np.abs(pixels(data) - upright).mean() < 3  # upright, as its face box expects
    assert (image.face_box, image.face_vector_id, image.width, image.height) == before
    assert not old_path.exists() and not thumbnail_path.exists()
    assert not Source.objects.filter(name=old_name).exists()
    match = api.post("/records/match", {"image": upload(photo("Colin_Powell", 1))}, format="multipart").json()
    assert match["best_match"]["id"] == str(image.person_id)

    call_command("strip_photo_metadata")
    assert "stored again: 0, already clean: 1" in capsys.readouterr().out
