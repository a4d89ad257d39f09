"""Shared fixtures: real photos from FACES_DIR, a temporary data folder per test, and a clean
per-process index so no test sees another's vectors."""

import csv
from pathlib import Path

import pytest



@pytest.fixture(scope="session")
def faces_dir() -> Path:
    from django.conf import settings

    path = Path(settings.FACES_DIR)
    if not (path / "lfw" / "manifest.csv").exists():
        pytest.fail(f"Face photos not found at {path}: set FACES_DIR (see README)")
    return path


@pytest.fixture(scope="session")
def lfw_people(faces_dir) -> dict[str, list[Path]]:
    """LFW identity -> its photos, in file order."""
    people: dict[str, list[Path]] = {}
    with (faces_dir / "lfw" / "manifest.csv").open() as handle:
        for row in csv.DictReader(handle):
            people.setdefault(row["identity"], []).append(faces_dir / "lfw" / row["path"])
    return people


@pytest.fixture
def photo(lfw_people):
    """photo("George_W_Bush", 0) -> the bytes of that person's first LFW photo."""

    def read(identity: str, number: int = 0) -> bytes:
        return lfw_people[identity][number].read_bytes()

    return read


@pytest.fixture(autouse=True)
def isolated_data(settings, tmp_path):
    """Each test writes photos and index snapshots under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.INDEX_DIR = tmp_path / "index"
    from recognition import gallery

    gallery._galleries.clear()
    yield
    gallery._galleries.clear()


@pytest.fixture(scope="session")
def face_service():
    from recognition.service import get_service

    service = get_service()
    service.load()
    return service
