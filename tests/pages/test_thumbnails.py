"""Face thumbnails: made once per photo and stored (easy-thumbnails), the face-centred crop the
pages always showed, served only through the app to users who may view people, erased with their
photo."""

import io
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from easy_thumbnails.files import Thumbnailer
from easy_thumbnails.models import Thumbnail
from PIL import Image

from records.thumbnails import THUMBNAIL_SIDE, square_around

from .helpers import ALICE

pytestmark = pytest.mark.django_db


def thumbnail_files() -> list[Path]:
    return sorted(path for path in Path(settings.MEDIA_ROOT, "thumbnails").rglob("*") if path.is_file())


def fetch(client, image) -> bytes:
    response = client.get(f"/photos/{image.pk}/face.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    return response.content


def test_a_thumbnail_is_made_once_and_then_served_from_storage(operator, enrol, monkeypatch):
    image = enrol(ALICE).first_image
    assert thumbnail_files() == []

    first = fetch(operator, image)

    [stored] = thumbnail_files()
    assert stored.read_bytes() == first and Thumbnail.objects.count() == 1
    # The original is not decoded again.
    monkeypatch.setattr(Thumbnailer, "generate_thumbnail", lambda *args, **kwargs: pytest.fail("made again"))
    assert fetch(operator, image) == first
    assert thumbnail_files() == [stored]


def test_it_is_the_square_around_the_face(operator, enrol):
    image = enrol(ALICE).first_image

    thumbnail = Image.open(io.BytesIO(fetch(operator, image))).convert("RGB")

    photo = Image.open(image.image.path).convert("RGB")
    expected = photo.crop(square_around(image.face_box, photo.size))
    expected.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    assert thumbnail.size == expected.size
    assert np.abs(np.asarray(thumbnail, dtype=int) - np.asarray(expected, dtype=int)).mean() < 4


def test_only_users_who_may_view_people_get_it_and_never_by_a_media_url(client, member, enrol, operator):
    image = enrol(ALICE).first_image
    fetch(operator, image)
    [stored] = thumbnail_files()
    url = f"/photos/{image.pk}/face.jpg"

    client.logout()
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(member(None, "nobody"))
    assert client.get(url).status_code == 403
    media_url = f"/{settings.MEDIA_URL}{stored.relative_to(settings.MEDIA_ROOT)}"
    assert client.get(media_url).status_code == 404


def test_removing_a_photo_erases_its_thumbnail(operator, enrol, django_capture_on_commit_callbacks):
    person = enrol(ALICE)
    image = person.first_image
    fetch(operator, image)
    assert len(thumbnail_files()) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/people/{person.pk}/photos/{image.pk}/remove/")

    assert response.status_code == 302
    assert thumbnail_files() == [] and not Thumbnail.objects.exists()


def test_a_missing_photo_without_a_thumbnail_is_404(operator, enrol):
    image = enrol(ALICE).first_image
    Path(image.image.path).unlink()

    assert operator.get(f"/photos/{image.pk}/face.jpg").status_code == 404
