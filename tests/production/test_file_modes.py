"""What the service writes is its owner's only: photos and their folders, index snapshots and a
SQLite database are created 0600 (folders 0700) by default (FILE_MODE_UMASK), not 0644/0755 for
every account of the host. Real photos, the real pipeline."""

import sqlite3
import stat
from pathlib import Path

import pytest

from recognition.vectors.indexes import get_vector_index
from records.usecases import enrolment

pytestmark = pytest.mark.django_db


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_photos_their_folders_and_index_snapshots_are_the_owners_only(face_service, photo, settings):
    person = enrolment.enrol("Colin Powell", photo("Colin_Powell", 0)).person
    stored = Path(person.first_image.image.path)
    gallery = get_vector_index(face_service.model_key)
    gallery.save()

    assert mode(stored) == 0o600
    for folder in [stored.parent, *stored.parent.relative_to(settings.MEDIA_ROOT).parents][:-1]:
        folder = folder if folder.is_absolute() else Path(settings.MEDIA_ROOT) / folder
        assert mode(folder) == 0o700, folder
    assert mode(gallery.path) == 0o600


def test_a_sqlite_database_made_by_the_service_is_the_owners_only(tmp_path):
    sqlite3.connect(tmp_path / "db.sqlite3").execute("CREATE TABLE t (x)").connection.close()
    assert mode(tmp_path / "db.sqlite3") == 0o600
