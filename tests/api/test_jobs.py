"""POST /maintenance/rebuild-index?reembed=true as a background job and GET /maintenance/jobs/{id}:
run by a real `manage.py db_worker` process on the test database (records/jobs.py), one re-embed
per model at a time, and a job whose worker is killed resumed by the next worker."""

import socket
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit.models import AuditEvent
from jobs.models import Job
from jobs.worker import this_worker
from recognition.models import FaceVector
from recognition.service import get_service
from records import jobs
from records.maintenance import photos_after
from records.models import FaceImage

from .samples import upload


ZEROS = b"\0" * 512 * 4  # a 512-d float32 vector


def wait_for(api, job_id: str, until, timeout: float = 240, every: float = 0.1) -> dict:
    """GET the job until `until(body)`; fails with the last body after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/maintenance/jobs/{job_id}").json()
        if until(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(every)


def finished(body: dict) -> bool:
    return body["state"] in ("succeeded", "failed")


def stale_vectors(photos) -> None:
    """Zero the stored vectors: only a re-embed from the photos brings the right ones back."""
    FaceVector.objects.filter(pk__in=photos.values("face_vector")).update(embedding=ZEROS)


@pytest.fixture
def gallery(transactional_db, enrol, add_photo, photo, lfw_people):
    """Six people, one with 60 more photos: 66 photos, enough for a job to take a few seconds."""
    people = [enrol(name.replace("_", " "), photo(name, 0)) for name in
              ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Hugo_Chavez", "Jean_Chretien", "Ariel_Sharon"]]
    for number in range(1, 61):
        add_photo(people[0], photo("George_W_Bush", number))
    return people


def test_a_reembed_is_a_job_the_worker_runs_to_success(api, gallery, photo, job_worker):
    probe = {"image": upload(photo("Colin_Powell", 1))}
    before = api.post("/records/match", probe, format="multipart").json()["top_matches"][0]
    stale_vectors(gallery[1].images.all())
    job_worker()

    response = api.post("/maintenance/rebuild-index?reembed=true")

    assert response.status_code == 202, response.json()
    queued = response.json()
    assert response["Location"] == queued["url"] and queued["url"].endswith(f"/maintenance/jobs/{queued['id']}")
    assert queued["kind"] == "reembed" and queued["model"] == get_service().model_key
    assert queued["progress"] == {"done": 0, "total": 66}
    assert queued["state"] in ("queued", "running") and queued["result"] is None and queued["error"] is None
    assert queued["requested_by"].startswith("tests (")
    seen = []
    done = wait_for(api, queued["id"], lambda body: seen.append(body["progress"]["done"]) or finished(body))
    assert done["state"] == "succeeded", done
    assert done["progress"] == {"done": 66, "total": 66}
    assert done["result"]["total_vectors"] == 66 and done["result"]["failed"] == []
    assert done["result"]["model"] == get_service().model_key
    assert done["attempts"] == 1 and done["finished_at"] >= done["started_at"] >= done["created_at"]
    assert seen == sorted(seen)  # progress only moves forward
    after = api.post("/records/match", {"image": upload(photo("Colin_Powell", 1))}, format="multipart").json()
    assert after["top_matches"][0] == before  # the zeroed vector was computed again from the photo
    # Audited as the key that asked, the rebuild the worker did included.
    started = AuditEvent.objects.get(action=AuditEvent.Action.START_JOB)
    rebuilt = AuditEvent.objects.get(action=AuditEvent.Action.REBUILD)
    assert started.target == queued["id"] and started.status == 202
    assert rebuilt.actor == started.actor == queued["requested_by"] and rebuilt.detail["reembed"] is True
    task = DBTaskResult.objects.get(pk=Job.objects.get().task_id)
    assert task.status == "SUCCESSFUL" and task.return_value["total_vectors"] == 66


def test_a_second_reembed_of_the_same_model_is_409_naming_the_first(api, bush):
    first = api.post("/maintenance/rebuild-index?reembed=true").json()  # no worker: it stays queued

    second = api.post("/maintenance/rebuild-index?reembed=true")

    assert second.status_code == 409
    body = second.json()
    assert body["detail"] == f"A re-embed of {get_service().model_key} is already queued: job {first['id']}."
    assert body["job"]["id"] == first["id"] and body["job"]["state"] == "queued"
    assert Job.objects.count() == 1 and DBTaskResult.objects.count() == 1  # nothing half-written
    assert api.post("/maintenance/rebuild-index").status_code == 200  # a plain rebuild is not a job


def test_the_database_itself_refuses_a_second_active_reembed_of_a_model_key(db):
    Job.objects.create(kind=Job.Kind.REEMBED, model_key="m", state=Job.State.RUNNING)
    Job.objects.create(kind=Job.Kind.REEMBED, model_key="m", state=Job.State.SUCCEEDED)  # ended ones do not count
    Job.objects.create(kind=Job.Kind.REEMBED, model_key="other", state=Job.State.QUEUED)

    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind=Job.Kind.REEMBED, model_key="m", state=Job.State.QUEUED)


def test_a_job_whose_worker_is_killed_is_resumed_by_the_next_worker(api, gallery, job_worker):
    stale_vectors(gallery[0].images.all())
    worker = job_worker()
    job_id = api.post("/maintenance/rebuild-index?reembed=true").json()["id"]
    # Killed once its first progress is written (about a second in), well before its 66 photos are done.
    midway = wait_for(api, job_id, lambda body: body["progress"]["done"] > 0 or finished(body), every=0.05)
    worker.kill9()

    assert midway["state"] == "running" and midway["progress"]["done"] < 66, midway
    orphan = Job.objects.get()
    assert orphan.state == Job.State.RUNNING and orphan.resume_after  # left marked running by the dead worker
    first_task = orphan.task_id
    first_attempt = list(FaceImage.objects.exclude(pk__in=photos_after(orphan.resume_after)).values_list("pk", "face_vector"))

    restarted = job_worker()
    # The restarted worker takes the job back as it starts (no request asks for it meanwhile).
    deadline = time.monotonic() + 120
    while "Starting worker" not in restarted.output():
        assert time.monotonic() < deadline, restarted.output()
        time.sleep(0.1)
    done = wait_for(api, job_id, finished)

    assert done["state"] == "succeeded", (done, restarted.output())
    assert done["attempts"] == 2 and done["progress"] == {"done": 66, "total": 66}
    assert done["result"]["total_vectors"] == 66 and done["result"]["failed"] == []
    assert f"{job_id}: its worker had stopped; queued again to resume" in restarted.output()
    assert DBTaskResult.objects.get(pk=first_task).status == "FAILED"  # not left RUNNING either
    assert Job.objects.get().task_id != first_task
    # Resumed after the last photo it recorded: those before it were not re-embedded a second time.
    assert 0 < len(first_attempt) < 66
    assert all(FaceImage.objects.get(pk=pk).face_vector_id == vector for pk, vector in first_attempt)
    assert not FaceVector.objects.filter(embedding=ZEROS).exists()  # every photo re-embedded


# --- Recovery, plumbing: which running jobs count as orphaned, and what becomes of them -----------


def running_job(worker: str, attempts: int = 1, heartbeat_age: float = 0, **fields) -> Job:
    return Job.objects.create(
        kind=Job.Kind.REEMBED, model_key=fields.pop("model_key", "m"), state=Job.State.RUNNING, worker=worker,
        attempts=attempts, heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age), **fields,
    )


@pytest.fixture
def immediate_tasks(settings):
    """Tasks run at enqueue, in this process (django-tasks' ImmediateBackend): plumbing tests only."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def no_tasks(settings):
    """Tasks are recorded and never run (django-tasks' DummyBackend)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def test_a_running_job_of_a_live_worker_is_left_alone(db, no_tasks):
    mine = running_job(this_worker())
    elsewhere = running_job("another-host/1/1", heartbeat_age=5, model_key="other")

    assert jobs.recover_orphaned_jobs() == []
    assert set(Job.objects.values_list("state", flat=True)) == {"running"}
    assert {mine.pk, elsewhere.pk} == set(Job.objects.values_list("pk", flat=True))


def test_a_job_of_a_dead_process_or_a_silent_host_is_queued_again(db, no_tasks, settings):
    dead_here = running_job(f"{socket.gethostname()}/999999999/1")  # no such pid
    silent = running_job("another-host/1/1", heartbeat_age=settings.JOB_WORKER_TIMEOUT + 1, model_key="other")

    recovered = jobs.recover_orphaned_jobs()

    assert {job.pk for job in recovered} == {dead_here.pk, silent.pk}
    for job in Job.objects.all():
        assert job.state == Job.State.QUEUED and job.worker == "" and job.task_id


def test_a_job_of_a_dead_worker_is_never_shown_running(api, no_tasks):
    job = running_job(f"{socket.gethostname()}/999999999/1")

    body = api.get(f"/maintenance/jobs/{job.pk}").json()

    assert body["state"] == "queued" and body["attempts"] == 1  # resumed by the next worker


def test_a_job_that_lost_its_worker_too_often_fails(db, no_tasks):
    job = running_job(f"{socket.gethostname()}/999999999/1", attempts=django_settings.JOB_MAX_ATTEMPTS)

    jobs.recover_orphaned_jobs()

    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.finished_at is not None
    assert job.error.startswith(f"Its worker stopped during each of its {job.attempts} attempts")


def test_a_conflicting_job_of_a_dead_worker_no_longer_blocks_a_new_one(api, bush, no_tasks):
    stuck = running_job(f"{socket.gethostname()}/999999999/1", model_key=get_service().model_key)

    response = api.post("/maintenance/rebuild-index?reembed=true")

    assert response.status_code == 409  # it is resumed, so it is still the one re-embed of the model
    assert response.json()["job"]["id"] == str(stuck.pk) and response.json()["job"]["state"] == "queued"


def test_with_an_immediate_backend_the_job_is_done_when_answered(api, bush, immediate_tasks):
    response = api.post("/maintenance/rebuild-index?reembed=true")

    assert response.status_code == 202
    assert response.json()["state"] == "succeeded" and response.json()["result"]["total_vectors"] == 1


@pytest.mark.parametrize("job_id", ["not-a-uuid", "3f2b8c1e-9d4a-4e7b-8a61-5c0d2e9f7a10"])
def test_an_unknown_job_is_404(api, job_id):
    response = api.get(f"/maintenance/jobs/{job_id}")

    assert response.status_code == 404
    assert response.json() == {"detail": f"No job with id '{job_id}'."}
