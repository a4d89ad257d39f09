"""Fixtures of the inbox tests: the API's (an all-scope client, people enrolled through the
service) and a collection that keeps its unknown faces."""

import pytest

from records.models import Collection
from tests.api.conftest import _each_photo_analysed_once, api, api_key, enrol  # noqa: F401 (fixtures)


@pytest.fixture
def keeping(db) -> Collection:
    """`default`, keeping the faces its matches leave unnamed."""
    collection = Collection.default()
    collection.keep_unknown_faces = True
    collection.save()
    return collection


@pytest.fixture
def match(api, monkeypatch, face_service):
    """match(photo bytes, **form) -> the answer's JSON (200 asserted), the real model run once per
    photo per session."""

    def match(data: bytes, **form):
        with _each_photo_analysed_once(monkeypatch):
            response = api.post("/records/match", {"image": _upload(data), **form}, format="multipart")
        assert response.status_code == 200, response.content
        return response.json()

    return match


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("probe.jpg", data, content_type="image/jpeg")
