"""More photos than a request should analyse (PAGES_PHOTOS_PER_REQUEST) on the enrolment page or a
person's page: a background job run by a real `manage.py db_worker`, and its page."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pytest_django.asserts import assertContains, assertRedirects

from jobs.models import Job
from records import jobs
from records.models import FaceImage, PendingErasure, Person
from tests.jobs import wait_until_finished

from .helpers import ALICE, BOB, STRANGER, assert_shows

pytestmark = pytest.mark.django_db


def staged_files() -> list[Path]:
    return [path for path in (Path(django_settings.MEDIA_ROOT) / "imports").rglob("*") if path.is_file()]


def test_many_photos_on_the_enrol_page_are_a_job_the_worker_runs(operator, upload, job_worker, no_face_upload):
    photos = [upload(ALICE, number) for number in range(6)] + [no_face_upload]
    assert len(photos) > django_settings.PAGES_PHOTOS_PER_REQUEST
    job_worker()

    response = operator.post("/enrol/", {"name": "Colin Powell", "metadata": "team: Security", "photos": photos})

    job = Job.objects.get()
    assertRedirects(response, f"/jobs/{job.pk}/", fetch_redirect_response=False)
    assert job.kind == Job.Kind.IMPORT and job.total == 7 and job.requester == "operator"
    queued = operator.get(response.url)
    assert_shows(queued, f"Queued job {job.pk}: 7 photos of Colin Powell are being stored in the background.")
    wait_until_finished(job)
    assert job.state == Job.State.SUCCEEDED, job.error
    person = Person.objects.get()
    assert (person.name, person.metadata, person.images.count()) == ("Colin Powell", {"team": "Security"}, 6)
    assert job.result["person"] == str(person.pk) and job.result["count"] == 6
    assert job.result["notes"] == ["Not added: photo 7: No face was detected in the image."]
    page = operator.get(f"/jobs/{job.pk}/")
    assert_shows(page, "succeeded, 7 of 7 photos tried.")
    assertContains(page, f'6 photos stored for <a href="/people/{person.pk}/">Colin Powell</a>; 1 refused (below).', html=True)
    assert_shows(page, "Not added: photo 7: No face was detected in the image.")
    assert 'http-equiv="refresh"' not in page.content.decode()  # it refreshes only while it runs
    assert staged_files() == [] and not PendingErasure.objects.exists()  # the staged uploads are erased


def test_a_few_photos_are_still_stored_in_the_request(operator, upload):
    photos = [upload(ALICE, number) for number in range(django_settings.PAGES_PHOTOS_PER_REQUEST)]

    response = operator.post("/enrol/", {"name": "Colin Powell", "photos": photos})

    person = Person.objects.get()
    assertRedirects(response, f"/people/{person.pk}/", fetch_redirect_response=False)
    assert person.images.count() == len(photos) and not Job.objects.exists()
    assert_shows(operator.get("/enrol/"), f"More than {len(photos)} at once are stored in the background")


def test_many_photos_added_on_a_person_page_are_a_job_too(operator, upload, enrol, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}  # run as queued
    settings.PAGES_PHOTOS_PER_REQUEST = 2
    person = enrol(ALICE)

    response = operator.post(f"/people/{person.pk}/", {"photos": [upload(ALICE, n) for n in (1, 2, 3)]})

    job = Job.objects.get()
    assertRedirects(response, f"/jobs/{job.pk}/", fetch_redirect_response=False)
    assert job.state == Job.State.SUCCEEDED and job.result["count"] == 3
    assert person.images.count() == 4 and Person.objects.count() == 1


def test_a_job_refuses_photos_that_do_not_look_like_the_person_unless_confirmed(operator, upload, enrol, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}  # run as queued
    settings.PAGES_PHOTOS_PER_REQUEST = 2
    serena = enrol(STRANGER)
    photos = [upload(STRANGER, 1), upload(BOB, 0), upload(BOB, 1)]

    operator.post(f"/people/{serena.pk}/", {"photos": photos})
    refused = Job.objects.get()
    operator.post(f"/people/{serena.pk}/", {"photos": [upload(BOB, 0), upload(BOB, 1), upload(BOB, 2)], "allow_mismatch": "on"})
    confirmed = Job.objects.exclude(pk=refused.pk).get()

    assert refused.state == Job.State.SUCCEEDED and refused.result["count"] == 1 and refused.result["mismatched"] == 2
    assert [note.split(":")[1] for note in refused.result["notes"]] == [" photo 2", " photo 3"]
    page = operator.get(f"/jobs/{refused.pk}/")
    assertContains(page, f'1 photo stored for <a href="/people/{serena.pk}/">Serena Williams</a>; 2 refused (below).', html=True)
    assert_shows(page, "2 photos did not look like Serena Williams and were not stored")
    assert confirmed.result["count"] == 3 and confirmed.result["mismatched"] == 0
    assert serena.images.count() == 5


def test_a_resumed_import_does_not_store_a_photo_twice(operator, upload, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # queued, never run
    settings.PAGES_PHOTOS_PER_REQUEST = 1
    operator.post("/enrol/", {"name": "Colin Powell", "photos": [upload(ALICE, n) for n in (0, 1, 2)]})
    job = Job.objects.get()

    # A first attempt stored every photo and died before it could record the last two of them.
    jobs.run_job.call(str(job.pk))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and FaceImage.objects.count() == 3
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.QUEUED, resume_after="0", done=1, options={**job.options, "so_far": {**job.options["so_far"], "count": 1}}
    )
    job.refresh_from_db()
    # Its staged files were erased at the end: put them back as they were for the resumed attempt.
    for (name, _), number in zip(job.options["files"], (0, 1, 2)):
        path = Path(django_settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload(ALICE, number).read())

    jobs.run_job.call(str(job.pk))

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.result["count"] == 3
    assert FaceImage.objects.count() == 3 and Person.objects.count() == 1


def test_a_photo_too_large_queues_nothing_and_keeps_nothing(operator, upload, settings):
    settings.PAGES_PHOTOS_PER_REQUEST = 1
    photos = [upload(ALICE, 0), upload(ALICE, 1)]
    settings.MAX_UPLOAD_BYTES = min(photo.size for photo in photos) - 1

    response = operator.post("/enrol/", {"name": "Colin Powell", "photos": photos})

    assert response.status_code == 200 and "photos" in response.context["form"].errors
    assert not Job.objects.exists() and staged_files() == [] and not Person.objects.exists()


def test_the_job_page_needs_the_enrol_permission(client, member, upload, operator, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.PAGES_PHOTOS_PER_REQUEST = 1
    operator.post("/enrol/", {"name": "Colin Powell", "photos": [upload(ALICE, 0), upload(ALICE, 1)]})
    job = Job.objects.get()
    assertContains(operator.get(f"/jobs/{job.pk}/"), 'http-equiv="refresh"')  # queued: it refreshes

    client.force_login(member("Viewers", "vera"))
    assert client.get(f"/jobs/{job.pk}/").status_code == 403


@pytest.fixture
def no_face_upload(faces_dir):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(faces_dir / "lfw/images/George_W_Bush/George_W_Bush_0001.jpg") as portrait:
        portrait.crop((0, 170, 80, 250)).save(buffer, "JPEG", quality=95)
    return SimpleUploadedFile("nobody.jpg", buffer.getvalue(), content_type="image/jpeg")
