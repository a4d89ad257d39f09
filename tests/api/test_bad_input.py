"""Every bad input of the contract: the right status, a detail that says what is wrong, and the
database, the media folder and the index exactly as they were."""

import uuid

import pytest
from django.http import multipartparser
from PIL import ImageFile

from .samples import SVG, TEXT, image_bytes, png_claiming, upload

pytestmark = pytest.mark.django_db

UPLOAD_ENDPOINTS = ["/records", "/records/match", "/records/{id}/images"]


@pytest.fixture
def post_photo(api, bush):
    """post_photo(endpoint, data, **fields): the photo posted to one of the upload endpoints."""

    def post(endpoint: str, data: bytes, name: str = "photo.jpg", **fields):
        if endpoint == "/records":
            fields.setdefault("name", "Somebody")
        return api.post(endpoint.format(id=bush.pk), {"image": upload(data, name), **fields}, format="multipart")

    return post


def assert_refused(response, status: int, *fragments: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert isinstance(body["detail"], str)
    for fragment in fragments:
        assert fragment.lower() in body["detail"].lower(), body
    return body


def bad_files(photo) -> dict:
    jpeg = photo("George_W_Bush", 0)
    return {
        "empty file": ("empty.jpg", b"", 400, "empty"),
        "text file named .jpg": ("photo.jpg", TEXT, 400, "not an image"),
        "truncated JPEG": ("photo.jpg", jpeg[: len(jpeg) // 2], 400, "truncated"),
        # Cut before the end of its header: Pillow's Image.open itself raises OSError.
        "JPEG cut in its header": ("photo.jpg", jpeg[:300], 400, "truncated"),
        "GIF": ("photo.gif", image_bytes(image_format="GIF"), 400, "unsupported image format gif"),
        "SVG": ("photo.svg", SVG, 400, "not an image"),
        "1x1 image": ("dot.png", image_bytes((1, 1)), 400, "1x1 pixels"),
        "decompression bomb": ("bomb.png", png_claiming(30000, 30000), 413, "pixels"),
    }


@pytest.mark.parametrize("endpoint", UPLOAD_ENDPOINTS)
@pytest.mark.parametrize(
    "case",
    [
        "empty file", "text file named .jpg", "truncated JPEG", "JPEG cut in its header", "GIF", "SVG",
        "1x1 image", "decompression bomb",
    ],
)
def test_a_file_that_is_not_a_usable_photo_is_refused(post_photo, photo, unchanged, endpoint, case, monkeypatch):
    name, data, status, fragment = bad_files(photo)[case]
    if case == "decompression bomb":
        # Refused from the header: decoding its pixels would be the attack.
        monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels were decoded"))

    with unchanged():
        response = post_photo(endpoint, data, name)

    assert_refused(response, status, fragment)


@pytest.mark.parametrize("endpoint", UPLOAD_ENDPOINTS)
def test_a_photo_without_a_face_is_422_with_face_detected_false(post_photo, no_face_photo, unchanged, endpoint):
    with unchanged():
        response = post_photo(endpoint, no_face_photo)

    body = assert_refused(response, 422, "no face")
    assert body["face_detected"] is False
    assert body["faces_detected"] == 0


@pytest.mark.parametrize("endpoint", ["/records", "/records/{id}/images"])
def test_strict_enrolment_refuses_several_faces(post_photo, two_faces_photo, unchanged, endpoint):
    with unchanged():
        response = post_photo(endpoint, two_faces_photo, strict="true")

    body = assert_refused(response, 422, "2 faces", "strict")
    assert body["face_detected"] is True
    assert body["faces_detected"] == 2


@pytest.mark.parametrize("endpoint", UPLOAD_ENDPOINTS)
def test_a_body_far_above_the_size_limit_is_refused_before_it_is_read(
    post_photo, unchanged, endpoint, monkeypatch, settings
):
    # Django's multipart parser never starts: the Content-Length alone answers.
    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", lambda self: pytest.fail("body was parsed"))
    oversized = b"\xff\xd8\xff" + b"\0" * (settings.MAX_UPLOAD_BYTES + 100_000)

    with unchanged():
        response = post_photo(endpoint, oversized)

    assert_refused(response, 413, f"limited to {settings.MAX_UPLOAD_BYTES:,} bytes")


@pytest.mark.parametrize("endpoint", UPLOAD_ENDPOINTS)
def test_a_photo_just_above_a_configured_size_limit_is_refused(post_photo, photo, unchanged, endpoint, settings):
    jpeg = photo("George_W_Bush", 0)
    settings.MAX_UPLOAD_BYTES = len(jpeg) - 1

    with unchanged():
        response = post_photo(endpoint, jpeg)

    assert_refused(response, 413, f"{len(jpeg):,} bytes", f"limit is {len(jpeg) - 1:,} bytes")


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"metadata": "{department: Engineering}"}, "metadata: must be a json object"),
        ({"metadata": '["a", "list"]'}, "metadata: must be a json object ({...}), not an array"),
        ({"metadata": '{"notes": "%s"}' % ("x" * 16_400)}, "the limit is 16,384 bytes"),
        ({"metadata": '{"ratio": NaN}'}, "nan is not a json value"),
        ({"metadata": "[" * 100_000 + "]" * 100_000}, "nested more than 32 levels deep"),
        ({"name": None}, "name: this field is required"),
        ({"name": ""}, "name: this field may not be blank"),
        ({"name": "   "}, "name: this field may not be blank"),
        ({"name": "x" * 300}, "name: ensure this field has no more than 255 characters"),
    ],
    ids=[
        "metadata not JSON", "metadata a list", "metadata over 16 KB", "metadata NaN", "metadata too deep",
        "name missing", "name empty", "name blank", "name 300 characters",
    ],
)
def test_enrolment_fields_are_checked(api, photo, unchanged, fields, fragment):
    form = {"image": upload(photo("George_W_Bush", 0)), "name": "Somebody", **fields}
    form = {key: value for key, value in form.items() if value is not None}

    with unchanged():
        response = api.post("/records", form, format="multipart")

    assert_refused(response, 400, fragment)


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"top_k": 0}, "top_k: ensure this value is greater than or equal to 1"),
        ({"top_k": 101}, "top_k: ensure this value is less than or equal to 100"),
        ({"top_k": "abc"}, "top_k: a valid integer is required"),
        ({"threshold": -0.1}, "threshold: ensure this value is greater than or equal to 0"),
        ({"threshold": 2.5}, "threshold: ensure this value is less than or equal to 2"),
        ({"threshold": "abc"}, "threshold: a valid number is required"),
        ({"threshold": "nan"}, "threshold: a valid number is required"),
    ],
    ids=["top_k 0", "top_k 101", "top_k abc", "threshold negative", "threshold above 2", "threshold abc",
         "threshold nan"],
)
def test_match_parameters_are_checked(api, bush, photo, unchanged, fields, fragment):
    with unchanged():
        response = api.post(
            "/records/match", {"image": upload(photo("George_W_Bush", 1)), **fields}, format="multipart"
        )

    assert_refused(response, 400, fragment)


@pytest.mark.parametrize(
    "query, fragment",
    [
        ({"skip": -1}, "skip: ensure this value is greater than or equal to 0"),
        ({"limit": -1}, "limit: ensure this value is greater than or equal to 1"),
        ({"limit": 1001}, "limit: ensure this value is less than or equal to 1000"),
        ({"skip": "abc"}, "skip: a valid integer is required"),
    ],
    ids=["skip negative", "limit negative", "limit 1001", "skip abc"],
)
def test_list_parameters_are_checked(api, bush, unchanged, query, fragment):
    with unchanged():
        response = api.get("/records", query)

    assert_refused(response, 400, fragment)


@pytest.mark.parametrize("record_id", [str(uuid.uuid4()), "not-a-uuid", "12345", "%20"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_unknown_or_malformed_record_id_is_404(api, bush, unchanged, method, record_id):
    with unchanged():
        response = getattr(api, method)(f"/records/{record_id}", {"name": "X"} if method == "patch" else None)

    assert_refused(response, 404, "no record with id")


@pytest.mark.parametrize("record_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_adding_a_photo_to_an_unknown_record_is_404(api, bush, photo, unchanged, record_id):
    with unchanged():
        response = api.post(
            f"/records/{record_id}/images", {"image": upload(photo("George_W_Bush", 1))}, format="multipart"
        )

    assert_refused(response, 404, "no record with id")


@pytest.mark.parametrize("image_id", [str(uuid.uuid4()), "not-a-uuid"])
@pytest.mark.parametrize("method", ["get", "delete"])
def test_an_unknown_or_malformed_photo_id_is_404(api, bush, unchanged, method, image_id):
    with unchanged():
        response = getattr(api, method)(f"/records/{bush.pk}/images/{image_id}")

    assert_refused(response, 404, "has no photo with id")


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"name": ""}, "name: this field may not be blank"),
        ({"name": "x" * 300}, "no more than 255 characters"),
        ({"metadata": ["a", "list"]}, "not an array"),
        ({"metadata": "not json"}, "not valid json"),
        ({"metadata": {"notes": "x" * 16_400}}, "the limit is 16,384 bytes"),
        ({"metadata": {"nul": "a\x00b"}}, "without nul characters"),
        ({"metadata": None}, "metadata: this field may not be null"),
    ],
    ids=["name empty", "name 300 characters", "metadata a list", "metadata not JSON", "metadata over 16 KB",
         "metadata with NUL", "metadata null"],
)
def test_patch_fields_are_checked(api, bush, unchanged, change, fragment):
    with unchanged():
        response = api.patch(f"/records/{bush.pk}", change, format="json")

    assert_refused(response, 400, fragment)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('{"name": ', "json parse error"),
        ('{"metadata": %s}' % ("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ],
    ids=["truncated", "nested too deeply"],
)
def test_malformed_json_is_400(api, bush, unchanged, body, fragment):
    with unchanged():
        response = api.generic("PATCH", f"/records/{bush.pk}", body, content_type="application/json")

    assert_refused(response, 400, fragment)


def test_a_json_body_above_the_limit_is_413(api, bush, unchanged, settings):
    body = '{"name": "%s"}' % ("x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

    with unchanged():
        response = api.generic("PATCH", f"/records/{bush.pk}", body, content_type="application/json")

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert_refused(response, 413, f"exceed DATA_UPLOAD_MAX_MEMORY_SIZE ({limit:,} bytes)")


def test_enrolment_sent_as_json_is_refused(api, unchanged):
    with unchanged():
        response = api.post("/records", {"name": "Somebody", "image": "aGVsbG8="}, format="json")

    assert_refused(response, 400, "image: the submitted data was not a file")
