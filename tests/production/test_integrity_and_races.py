"""What a delete racing the making of a file would leave behind, and what `check_integrity` looks
at: a thumbnail made while its photo is deleted and a probe kept for a match whose person was
erased meanwhile are erased too; `check_integrity` lists (and repairs) stray files in every folder
of photos of people, not only faces/. Real photos, the real pipeline."""

from pathlib import Path

import pytest
from django.http import Http404
from easy_thumbnails.files import Thumbnailer

from audit import log as audit
from audit.models import AuditEvent
from jobs.models import Job
from records import thumbnails
from records.usecases import enrolment, matching
from records.maintenance import check_integrity
from records.models import FaceImage, Person

pytestmark = pytest.mark.django_db


def files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_check_integrity_looks_in_every_folder_of_photos(face_service, photo, settings):
    enrolment.enrol("Colin Powell", photo("Colin_Powell", 0))
    media = Path(settings.MEDIA_ROOT)
    strays = ["thumbnails/faces/gone/x.jpg.160x160_q85.jpg", "audit/probes/2026/12/gone.jpg", "imports/gone/00000"]
    queued = "imports/queued/00000"
    Job.objects.create(kind=Job.Kind.IMPORT, model_key="m", options={"files": [[queued, "photo 1"]]})
    for name in [*strays, queued]:
        (media / name).parent.mkdir(parents=True, exist_ok=True)
        (media / name).write_bytes(photo("Tony_Blair", 0))

    found = check_integrity()
    repaired = check_integrity(repair=True)

    assert found.files_without_row == sorted(strays) and not found.clean
    assert all(f"deleted stray file {name}" in repaired.repaired for name in strays)
    assert [path.relative_to(media).as_posix() for path in files(media) if not path.is_relative_to(media / "faces")] == [queued]


def test_a_thumbnail_made_while_its_photo_is_deleted_is_erased(
    face_service, photo, settings, monkeypatch, django_capture_on_commit_callbacks
):
    image = enrolment.enrol("Colin Powell", photo("Colin_Powell", 0)).image
    make = Thumbnailer.get_thumbnail

    def made_while_deleted(thumbnailer, options, *args, **kwargs):
        FaceImage.objects.filter(pk=image.pk).delete()  # another request, meanwhile
        return make(thumbnailer, options, *args, **kwargs)

    monkeypatch.setattr(Thumbnailer, "get_thumbnail", made_while_deleted)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Http404):
        thumbnails.face_thumbnail(image)

    assert files(Path(settings.MEDIA_ROOT) / "thumbnails") == []


def test_a_probe_kept_for_a_person_erased_during_the_match_is_erased(
    face_service, photo, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.AUDIT_KEEP_PROBES = True
    person = enrolment.enrol("Colin Powell", photo("Colin_Powell", 0)).person
    record = audit.record

    def erased_meanwhile(action, **event):
        if action == audit.Action.MATCH:  # another request, between the search and the event
            Person.objects.filter(pk=person.pk).delete()
        return record(action, **event)

    monkeypatch.setattr(audit, "record", erased_meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        result = matching.match(photo("Colin_Powell", 1), top_k=1)

    assert result.best_match.id == str(person.pk)
    event = AuditEvent.objects.get(action=AuditEvent.Action.MATCH)
    assert not event.probe and event.probe_sha256
    assert files(Path(settings.MEDIA_ROOT) / "audit") == []
