"""Fixtures of the REST API tests: an API key and a client that sends it, people enrolled from real
photos, photos that must be refused, and a check that a refused request changed nothing."""

import hashlib
import io
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from rest_framework.test import APIClient

from recognition.models import IndexState, RemovedVector
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index
from records.models import Collection, FaceImage, Person
from records.usecases import analysis, enrolment
from tests.keys import new_key

_analyses = {}


@pytest.fixture
def api_key(db) -> str:
    """A key with every scope: the original contract's client."""
    return new_key()


@pytest.fixture
def api(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@contextmanager
def _each_photo_analysed_once(monkeypatch):
    """Within it, the use cases run the real model once per distinct photo per test session
    (the pipeline is deterministic): for arranging a gallery, not for testing the pipeline."""
    real_analyse = analysis.analyse_photo

    def analyse_once(data: bytes, **options):
        key = (hashlib.sha256(data).hexdigest(), *sorted(options.items()))
        if key not in _analyses:
            _analyses[key] = real_analyse(data, **options)
        return _analyses[key]

    with monkeypatch.context() as patch:
        patch.setattr(analysis, "analyse_photo", analyse_once)
        yield


@pytest.fixture
def enrol(db, face_service, monkeypatch):
    """enrol(name, photo_bytes, metadata=None, collection=None) -> Person, through records.usecases;
    `collection` a name, made when missing (default: `default`)."""

    def enrol(name: str, data: bytes, metadata: dict | None = None, collection: str | None = None) -> Person:
        group = Collection.objects.get_or_create(name=collection)[0] if collection else None
        with _each_photo_analysed_once(monkeypatch):
            return enrolment.enrol(name, data, metadata=metadata, collection=group).person

    return enrol


@pytest.fixture
def add_photo(db, face_service, monkeypatch):
    """add_photo(person, photo_bytes) -> FaceImage, through records.usecases."""

    def add_photo(person: Person, data: bytes) -> FaceImage:
        with _each_photo_analysed_once(monkeypatch):
            return enrolment.add_photo(person, data).image

    return add_photo


@pytest.fixture
def bush(enrol, photo) -> Person:
    return enrol("George W Bush", photo("George_W_Bush", 0), {"role": "president"})


@pytest.fixture
def no_face_photo(faces_dir) -> bytes:
    """A real photograph with no face in it: the bottom-left corner of an LFW portrait."""
    buffer = io.BytesIO()
    with Image.open(faces_dir / "lfw/images/George_W_Bush/George_W_Bush_0001.jpg") as portrait:
        portrait.crop((0, 170, 80, 250)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def two_faces_photo(faces_dir) -> bytes:
    return (faces_dir / "samples/group/kit_with_rose.jpg").read_bytes()


def stored_state(settings) -> dict:
    """Everything a request could change: rows, stored files, the index and its snapshot."""
    gallery = get_vector_index(get_service().model_key)
    gallery.sync()
    gallery.wait_for_upkeep()  # a snapshot due is written before, not while, the block runs
    return {
        "people": list(
            Person.objects.order_by("pk").values_list("pk", "name", "metadata", "collection__name", "updated_at")
        ),
        "collections": list(Collection.objects.order_by("pk").values_list("name", flat=True)),
        "images": list(FaceImage.objects.order_by("pk").values_list("pk", "person_id", "image", "face_vector__vector_id")),
        "index_states": list(IndexState.objects.order_by("pk").values_list()),
        "removed_vectors": list(RemovedVector.objects.order_by("pk").values_list()),
        "media": _files(Path(settings.MEDIA_ROOT)),
        "index_files": _files(Path(settings.INDEX_DIR)),
        "vectors": sorted(gallery.vector_ids()),
    }


def _files(root: Path) -> list:
    if not root.exists():
        return []
    return sorted(
        (str(path.relative_to(root)), hashlib.sha256(path.read_bytes()).hexdigest())
        for path in root.rglob("*")
        if path.is_file() and path.suffix != ".lock"
    )


@pytest.fixture
def unchanged(db, settings, django_capture_on_commit_callbacks):
    """`with unchanged(): ...` asserts the block left the database, media and index as they were
    (running any on-commit work the block scheduled, such as file deletions)."""

    @contextmanager
    def check():
        before = stored_state(settings)
        with django_capture_on_commit_callbacks(execute=True):
            yield
        assert stored_state(settings) == before

    return check
