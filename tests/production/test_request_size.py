"""The request body limit (facesite/request_size.py): a body above it is a 413 on every URL before
anything reads it, with or without a Content-Length, and no upload is ever written to a temporary
file."""

import hashlib

import numpy as np
import pytest
import requests
from django.core.files import uploadedfile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import multipartparser

from facesite.request_size import body_limit
from records.models import Person
from tests.keys import key_client

pytestmark = pytest.mark.django_db

TIMEOUT = 60


def oversized() -> bytes:
    return b"\xff\xd8\xff" + b"\0" * (body_limit() + 1000)


@pytest.fixture
def no_temporary_files(monkeypatch, settings, tmp_path):
    """FILE_UPLOAD_TEMP_DIR of its own, and Django's temporary upload file made impossible: a test
    that needed one fails. Yields the folder, which must stay empty."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(uploadedfile.tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.setattr(uploadedfile, "TemporaryUploadedFile", refuse)
    yield folder
    assert list(folder.iterdir()) == []


@pytest.fixture
def never_parsed(monkeypatch):
    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", lambda self: pytest.fail("the body was parsed"))


def test_an_oversized_page_post_is_a_413_page(client, member, never_parsed, no_temporary_files):
    client.force_login(member("Managers"))

    response = client.post("/enrol/", {"name": "Big", "photos": [SimpleUploadedFile("big.jpg", oversized())]})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "Too much at once" in response.content.decode()
    assert f"the limit is {body_limit():,} bytes" in response.content.decode()
    assert "Content-Security-Policy" in response  # the site's headers, too


def test_the_413_page_has_the_users_navigation_and_a_way_back(client, member, never_parsed):
    client.force_login(member("Managers", "maria"))

    response = client.post(
        "/enrol/", {"name": "Big", "photos": [SimpleUploadedFile("big.jpg", oversized())]},
        HTTP_REFERER="http://testserver/enrol/",
    )

    page = response.content.decode()
    assert response.status_code == 413
    assert '<nav class="nav"' in page and 'href="/match/"' in page and "maria" in page
    assert '<a href="/enrol/">Back to the form</a>' in page


@pytest.mark.parametrize("path", ["/admin/login/", "/accounts/login/", "/records/match"])
def test_an_oversized_post_is_refused_everywhere(client, never_parsed, path):
    response = client.post(path, {"image": SimpleUploadedFile("big.jpg", oversized())})

    assert response.status_code == 413


def test_an_oversized_api_post_is_a_413_in_json(never_parsed, no_temporary_files):
    response = key_client().post("/records", {"name": "Big", "image": SimpleUploadedFile("big.jpg", oversized())})

    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request body is ")


def test_a_larger_limit_of_its_own(client, member, settings, never_parsed):
    settings.MAX_REQUEST_BYTES = 50_000
    client.force_login(member("Managers"))

    response = client.post("/enrol/", {"name": "Big", "photos": [SimpleUploadedFile("big.jpg", b"\0" * 60_000)]})

    assert response.status_code == 413
    assert "the limit is 50,000 bytes" in response.content.decode()


def big_photo(photo) -> bytes:
    """A real LFW photo grown to 3 MB (trailing bytes after the JPEG's end, which decoders skip):
    above FILE_UPLOAD_MAX_MEMORY_SIZE, where Django would spool it to a temporary file."""
    return photo("Colin_Powell", 0) + b"\0" * (3 * 1024 * 1024)


def test_a_photo_within_the_limit_is_enrolled_from_memory(client, member, photo, face_service, no_temporary_files):
    client.force_login(member("Managers"))

    data = big_photo(photo)
    response = client.post("/enrol/", {"name": "Colin Powell", "photos": [SimpleUploadedFile("big.jpg", data)]})

    assert response.status_code == 302, response.content.decode()[:500]
    # The whole upload arrived: the person and their photo of these bytes are stored.
    [person] = Person.objects.all()
    image = person.images.get()
    assert response["Location"] == f"/people/{person.pk}/" and person.name == "Colin Powell"
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert abs(float(np.linalg.norm(image.vector)) - 1) < 1e-4  # its face's vector, stored with it


# --- Over HTTP, on gunicorn as production runs it ------------------------------------------------


def chunked(data: bytes):
    """A body sent without a Content-Length (requests sends a generator chunked)."""
    for start in range(0, len(data), 64 * 1024):
        yield data[start:start + 64 * 1024]


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    body, content_type = requests.models.RequestEncodingMixin._encode_files(files, fields)
    return body, content_type


def test_over_http_with_and_without_a_content_length(gunicorn, api_client, photo, tmp_path):
    temporary = tmp_path / "server-tmp"
    temporary.mkdir()
    # Django's temporary upload files go to TMPDIR when FILE_UPLOAD_TEMP_DIR is unset.
    server = gunicorn(1, TMPDIR=temporary)
    before = sorted(temporary.rglob("*"))  # what the libraries left there at boot
    api = api_client(server)
    big, content_type = multipart({"name": "Big"}, {"image": ("big.jpg", oversized())})
    page = f"{server.base_url}/enrol/"

    with_length = requests.post(page, data=big, headers={"Content-Type": content_type}, timeout=TIMEOUT)
    without_length = requests.post(page, data=chunked(big), headers={"Content-Type": content_type}, timeout=TIMEOUT)
    api_with_length = api.call("POST", "/records", data=big, headers={"Content-Type": content_type})
    api_without_length = api.call("POST", "/records", data=chunked(big), headers={"Content-Type": content_type})

    assert (with_length.status_code, without_length.status_code) == (413, 413)
    assert "Too much at once" in with_length.text and "more than" in without_length.text
    assert api_with_length[0] == api_without_length[0] == 413
    assert api_with_length[1]["detail"].startswith(f"The request body is {len(big):,} bytes")
    assert api_without_length[1]["detail"].startswith(f"The request body is more than {body_limit():,} bytes")

    # Within the limit, a chunked body is read and served like any other: a 3 MB photo matched.
    small, small_type = multipart({"top_k": "1"}, {"image": ("big.jpg", big_photo(photo))})
    status, answer, _, _ = api.call("POST", "/records/match", data=chunked(small), headers={"Content-Type": small_type})
    assert status == 200, answer
    assert answer["faces_detected"] == 1

    assert sorted(temporary.rglob("*")) == before
    # The worker is fine after all that.
    assert requests.get(f"{server.base_url}/accounts/login/", timeout=TIMEOUT).status_code == 200
