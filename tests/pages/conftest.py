"""Fixtures of the page tests: a logged-in manager, photos as uploads, people enrolled through
the service."""

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from records.usecases import enrolment


@pytest.fixture(autouse=True)
def pinned_threshold(settings, face_service):
    """The pages show the decision of a threshold: pin one that separates these photos (cosine
    distance about 0.2-0.4 for the same person, above 0.8 for others), whatever the
    calibration of the day says."""
    settings.RECOGNITION_THRESHOLD = 0.6


@pytest.fixture
def user(member):
    """A manager (not staff): may do everything the pages offer (tests/pages/test_permissions.py
    checks the other groups)."""
    return member("Managers", "operator")


@pytest.fixture
def operator(client, user):
    """A client logged in as a manager who is not staff."""
    client.force_login(user)
    return client


@pytest.fixture
def upload(photo):
    """upload("Colin_Powell", 1) -> that LFW photo as an uploaded file."""

    def make(identity: str, number: int = 0) -> SimpleUploadedFile:
        return SimpleUploadedFile(f"{identity}_{number}.jpg", photo(identity, number), content_type="image/jpeg")

    return make


@pytest.fixture
def group_photo(faces_dir) -> SimpleUploadedFile:
    """Two faces: Kit Harington and Rose Leslie."""
    path = Path(faces_dir) / "samples" / "group" / "kit_with_rose.jpg"
    return SimpleUploadedFile("kit_with_rose.jpg", path.read_bytes(), content_type="image/jpeg")


def image_file(name: str, image_format: str, side: int) -> SimpleUploadedFile:
    """A plain grey square in that format."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (128, 128, 128)).save(buffer, image_format)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{image_format.lower()}")


@pytest.fixture
def blank_photo() -> SimpleUploadedFile:
    """A valid image with no face. Small, because a photo without a face is searched again with
    the slower CNN detector."""
    return image_file("blank.png", "PNG", 64)


@pytest.fixture
def gif_photo() -> SimpleUploadedFile:
    return image_file("photo.gif", "GIF", 64)


@pytest.fixture
def tiny_photo() -> SimpleUploadedFile:
    return image_file("tiny.png", "PNG", 16)


@pytest.fixture
def enrol(photo):
    """enrol("Colin_Powell", 0) -> a Person enrolled through the service from that photo."""

    def make(identity: str, number: int = 0, **fields):
        name = fields.pop("name", identity.replace("_", " "))
        return enrolment.enrol(name, photo(identity, number), **fields).person

    return make


def log_in(watched, login_url: str, username: str):
    """`watched` (tests/conftest.py) logged in through that login form."""
    from tests.conftest import PASSWORD

    watched.goto(login_url)
    watched.page.get_by_label("Username").fill(username)
    watched.page.get_by_label("Password").fill(PASSWORD)
    watched.page.get_by_role("button", name="Log in").click()
    watched.check()
    return watched


@pytest.fixture
def admin_site(live_server, watched, django_user_model):
    """The admin in the browser, logged in as a superuser."""
    from django.contrib.contenttypes.models import ContentType

    from tests.conftest import PASSWORD

    # The admin's history names content types by id: none cached from before a transactional
    # test's flush, which made them anew.
    ContentType.objects.clear_cache()
    django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    return log_in(watched, f"{live_server.url}/admin/login/?next=/admin/", "admin")


@pytest.fixture
def manager_site(live_server, watched, member):
    """The pages in the browser, logged in as a manager."""
    member("Managers", "operator")
    return log_in(watched, f"{live_server.url}/accounts/login/", "operator")
