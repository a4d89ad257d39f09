"""check_integrity covers the inbox's crops as it does the photos: a crop whose row is gone is a
stray file (deleted by --repair), an unknown face whose crop is missing is found and, by --repair,
erased with its vector (audited). Real LFW faces kept by real matches; on S3:
tests/production/test_s3_storage.py."""

import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from audit.models import AuditEvent
from inbox.models import UnknownCluster, UnknownFace
from recognition.models import FaceVector
from records.maintenance import check_integrity

from .test_api import BLAIR, POWELL, seen  # noqa: F401 (fixture)


def test_a_crop_without_its_face_and_a_face_without_its_crop_are_found_and_repaired(
    seen, photo, capsys, django_capture_on_commit_callbacks
):
    assert check_integrity().clean  # every kept face's crop is where its row says
    face = UnknownFace.objects.get(pk=seen[BLAIR][0])
    default_storage.delete(face.crop.name)
    stray = default_storage.save(f"inbox/{face.collection_id}/{uuid.uuid4()}.jpg", ContentFile(photo(POWELL, 3)))

    found = check_integrity()
    assert found.kept_rows_without_file == {"unknown faces": [str(face.pk)]}
    assert found.files_without_row == [stray] and not found.clean
    with pytest.raises(SystemExit):
        call_command("check_integrity")
    assert "unknown faces whose file is missing: 1" in capsys.readouterr().out

    with django_capture_on_commit_callbacks(execute=True):  # the erasure once the delete commits
        repaired = check_integrity(repair=True)
    assert f"deleted stray file {stray}" in repaired.repaired
    assert "erased 1 unknown faces whose file was missing" in repaired.repaired
    assert not default_storage.exists(stray)
    assert not UnknownFace.objects.filter(pk=face.pk).exists()
    assert not FaceVector.objects.filter(pk=face.face_vector_id).exists()
    left = UnknownFace.objects.get(pk=seen[BLAIR][1])  # the other face of that cluster stays
    assert UnknownCluster.objects.filter(pk=left.cluster_id).exists()
    erased = AuditEvent.objects.get(action=AuditEvent.Action.ERASE_UNKNOWN)
    assert erased.detail == {"reason": "crop_missing", "faces": [str(face.pk)]}
    assert check_integrity().clean
