"""An import job keeps people by id only, and goes with the person it names: erasing them deletes
the job, its staged photos and the task worker's rows, so a queued or resumed attempt enrols no
one again; ended jobs expire (JOB_RETENTION_DAYS); a subject-access export lists them. Real photos."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Job
from records import jobs
from records.models import FaceImage, PendingErasure, Person

from .helpers import ALICE, BOB

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_only(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # queued, never run
    settings.PAGES_PHOTOS_PER_REQUEST = 1


def staged_files() -> list[Path]:
    return [path for path in (Path(django_settings.MEDIA_ROOT) / "imports").rglob("*") if path.is_file()]


def restage(job: Job, upload, photos) -> None:
    """The staged files as they were before the job's first attempt erased them at its end."""
    for (name, _), (identity, number) in zip(job.options["files"], photos):
        path = Path(django_settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload(identity, number).read())


def test_a_job_keeps_no_name_of_anyone(operator, upload, enrol, queued_only):
    powell = enrol(ALICE)
    operator.post("/enrol/", {"name": "C. Powell", "metadata": "team: Security", "photos": [upload(ALICE, 1), upload(ALICE, 2)]})
    operator.post("/enrol/", {"name": "T. Blair", "photos": [upload(BOB, 0), upload(BOB, 1)], "allow_duplicates": "on"})
    refused, stored = Job.objects.order_by("created_at")

    refused_result = jobs.run_job.call(str(refused.pk))  # what the task worker's row would keep
    stored_result = jobs.run_job.call(str(stored.pk))

    refused.refresh_from_db(), stored.refresh_from_db()
    assert refused_result["duplicates"][0]["id"] == str(powell.pk) and stored_result["count"] == 2
    for kept in (refused.options, refused.result, refused_result, stored.options, stored.result, stored_result):
        text = json.dumps(kept)
        for name in ("Powell", "Blair", "Security", "Colin_Powell", "Tony_Blair"):
            assert name not in text, (name, text)
    # The page still says who, looked up by id.
    page = operator.get(f"/jobs/{refused.pk}/").content.decode()
    assert "Colin Powell" in page and f"/people/{powell.pk}/" in page
    assert "T. Blair" in operator.get(f"/jobs/{stored.pk}/").content.decode()


def test_erasing_a_person_deletes_their_queued_job_and_its_staged_photos(
    operator, upload, enrol, queued_only, django_capture_on_commit_callbacks
):
    powell = enrol(ALICE)
    operator.post(f"/people/{powell.pk}/", {"photos": [upload(ALICE, 1), upload(ALICE, 2)]})
    job = Job.objects.get()
    assert len(staged_files()) == 2

    with django_capture_on_commit_callbacks(execute=True):
        powell.delete()

    assert not Job.objects.filter(pk=job.pk).exists()
    assert staged_files() == [] and not PendingErasure.objects.exists()
    assert jobs.run_job.call(str(job.pk)) is None  # its queued task finds nothing to do
    assert not FaceImage.objects.exists()


def test_a_resumed_import_of_an_erased_person_enrols_no_one(operator, upload, queued_only):
    photos = [(ALICE, 0), (ALICE, 1), (ALICE, 2)]
    operator.post("/enrol/", {"name": "Colin Powell", "photos": [upload(*photo) for photo in photos]})
    job = Job.objects.get()
    # A first attempt enrolled them and died after the first photo was recorded.
    jobs.run_job.call(str(job.pk))
    job.refresh_from_db()
    person = Person.objects.get()
    Job.objects.filter(pk=job.pk).update(state=Job.State.QUEUED, resume_after="0", done=1, result=None)
    restage(job, upload, photos)

    person.delete()  # erased before the job's task runs again
    jobs.run_job.call(str(job.pk))

    assert not Person.objects.exists() and not FaceImage.objects.exists()
    assert not Job.objects.exists()


def test_ended_jobs_expire_and_running_ones_stay(settings):
    settings.JOB_RETENTION_DAYS = 30
    now = timezone.now()
    old = Job.objects.create(kind=Job.Kind.IMPORT, model_key="m", state=Job.State.SUCCEEDED, finished_at=now - timedelta(days=31))
    recent = Job.objects.create(kind=Job.Kind.IMPORT, model_key="m", state=Job.State.FAILED, finished_at=now - timedelta(days=29))
    running = Job.objects.create(kind=Job.Kind.IMPORT, model_key="m", state=Job.State.RUNNING)
    Job.objects.filter(pk=running.pk).update(created_at=now - timedelta(days=90))

    with time_machine.travel(now, tick=False):
        call_command("purge_expired")

    assert set(Job.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not Job.objects.filter(pk=old.pk).exists()


def test_the_subject_access_export_lists_their_jobs(operator, upload, enrol, queued_only):
    powell = enrol(ALICE)
    operator.post(f"/people/{powell.pk}/", {"photos": [upload(ALICE, 1), upload(ALICE, 2)]})
    job = Job.objects.get()

    response = operator.get(f"/people/{powell.pk}/export/")

    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    [listed] = json.loads(archive.read("jobs.json"))
    assert listed["id"] == str(job.pk) and listed["options"]["person"] == str(powell.pk)
