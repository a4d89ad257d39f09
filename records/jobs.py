"""Long work off the request path: a `Job` (jobs.models) run as a django-tasks task by the
database backend's worker (`manage.py db_worker`, started beside gunicorn by scripts/serve), so no
request waits for it and no broker is needed.

A request creates the job and its task in one transaction and answers at once; the worker claims
it, writes its progress at most once a second (that write is also its heartbeat), and finishes it
succeeded or failed. A worker that dies mid-job (killed, host restarted) leaves it marked running:
`recover_orphaned_jobs` finds such jobs, at the worker's start (records/management/commands/
db_worker.py) and whenever a new job meets one in its way, and resumes each from the last photo it
recorded, up to JOB_MAX_ATTEMPTS starts, after which it is marked failed. Resuming is safe because
re-embedding a photo twice gives the same vector and a photo deleted meanwhile is skipped.
Claiming, progress, finishing and telling a dead worker are the jobs app's (jobs/worker.py); here
are what each kind of job does and the task that runs them.
"""

from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from audit import log as audit
from jobs import worker
from jobs.models import Job

from . import erasure, signals
from .imports import PhotoBatch, StoredPhotos, already_stored, stage, store_photo
from .maintenance import ReembedOutcome, position, rebuild_index
from .models import Collection, FaceImage, Person
from .unavailable import RETRY_AFTER_SECONDS, dependency_down
from .usecases import matching

class JobConflict(Exception):
    """A re-embed of the same model key is already queued or running."""

    def __init__(self, job: Job):
        super().__init__(f"A re-embed of {job.model_key} is already {job.state}: job {job.pk}.")
        self.job = job


# --- Asking for a job ----------------------------------------------------------------------------


def start_reembed() -> Job:
    """Queue a re-embed of every photo with the active model, then a rebuild; JobConflict when one
    of this model key is queued or running (after taking back any whose worker is gone)."""
    model_key = matching.policy().model_key
    for _ in range(2):  # the conflicting job may finish between the refused insert and the look-up
        try:
            return _enqueue(Job(kind=Job.Kind.REEMBED, model_key=model_key, total=FaceImage.objects.count()))
        except IntegrityError:
            running = Job.objects.active().filter(kind=Job.Kind.REEMBED, model_key=model_key).first()
            if running is not None and not recover_orphaned_jobs([running]):
                raise JobConflict(running)
    raise JobConflict(Job.objects.active().filter(kind=Job.Kind.REEMBED, model_key=model_key).first())


def start_import(batch: PhotoBatch, uploads) -> Job:
    """Queue the enrolment of these photos of one person (the pages, beyond
    PAGES_PHOTOS_PER_REQUEST): their bytes are staged for the worker first."""
    job = Job(kind=Job.Kind.IMPORT, model_key=matching.policy().model_key, total=len(uploads), options=batch.as_options())
    job.options["files"] = []
    try:
        job.options["files"] = stage(job.pk, uploads, staged=job.options["files"])
        return _enqueue(job)
    except BaseException:
        discard_staged(job)
        raise


def discard_staged(job: Job) -> None:
    """The staged photos of an import, erased as a deleted photo is (retried until it succeeds)."""
    with transaction.atomic():
        erasure.forget_staged([job])


def _enqueue(job: Job) -> Job:
    job.requested_by = audit.current_actor()
    with transaction.atomic():
        job.save(force_insert=True)
        # In the same transaction: no job without its task, and no task the worker could claim
        # before the job it runs exists.
        job.task_id = str(run_job.enqueue(str(job.pk)).id)
        job.save(update_fields=["task_id"])
        audit.record(
            audit.Action.START_JOB, target=job.pk, status=202,
            detail={"kind": job.kind, "model_key": job.model_key, "total": job.total},
        )
    job.refresh_from_db()  # an immediate backend (tests) may have run it already
    return job


# --- Running it (in the worker) ------------------------------------------------------------------


@task()
def run_job(job_id: str) -> dict | None:
    job = worker.claim(job_id)
    if job is None:  # finished, failed or resumed by another task meanwhile: nothing to do here
        return None
    with audit.acting_for(job.requested_by):
        try:
            result = RUNNERS[job.kind](job, worker.Progress(job))
        except worker.JobTakenOver:
            return None
        except Exception as exc:
            if dependency_down(exc) is None:
                _finish(job, Job.State.FAILED, error=f"{type(exc).__name__}: {exc}")
            else:
                # A dependency that went away (the database, the disk, Milvus) is no fault of the
                # job: it is queued again to resume a little later, the attempt not counted. While
                # the database is still away that fails too, and the worker takes the job back once
                # it answers (db_worker).
                recover_orphaned_jobs(Job.objects.filter(pk=job.pk), gone=lambda job: True, outage=True)
            raise
    _finish(job, Job.State.SUCCEEDED, result=result)
    return result


def _finish(job: Job, state: str, result: dict | None = None, error: str = "") -> None:
    with transaction.atomic():  # job.finished (records/signals.py) commits with the job's end
        ended = worker.finish(job, state, result, error, options=_without_name(job.options))
        if ended:
            job.state, job.error = state, error[:2000]
            signals.job_finished.send(Job, job=job)
    if ended:
        discard_staged(job)


def _reembed(job: Job, progress: worker.Progress) -> dict:
    so_far = job.options.get("so_far", {})
    outcome = ReembedOutcome(failures=so_far.get("failed", []), deleted_meanwhile=so_far.get("deleted_meanwhile", 0))

    def advance(image, outcome: ReembedOutcome) -> None:
        progress.advance(position(image), {"failed": outcome.failures, "deleted_meanwhile": outcome.deleted_meanwhile})

    result = rebuild_index(reembed=True, progress=advance, after=job.resume_after, outcome=outcome)
    progress.write()
    return result


def _import(job: Job, progress: worker.Progress) -> dict:
    """The staged photos in order, from after the last one recorded; one already stored for the
    person (a resumed job) is not stored again."""
    try:
        batch = PhotoBatch.from_options(job.options)
    except (Person.DoesNotExist, Collection.DoesNotExist):
        raise RuntimeError("The person or collection the photos were for was deleted meanwhile.") from None
    so_far = job.options.get("so_far", {})
    person = batch.person
    if so_far.get("person"):
        # Enrolled by an earlier attempt: added to, never enrolled again (erasing them deletes
        # this job too, records/erasure.py; this is for one erased between its claim and here).
        person = Person.objects.filter(pk=so_far["person"]).first()
        if person is None:
            raise RuntimeError("The person the photos were for was deleted meanwhile.")
    stored = StoredPhotos(
        person=person, count=so_far.get("count", 0), notes=so_far.get("notes", []),
        duplicates=so_far.get("duplicates", []), refused=so_far.get("refused", []),
        mismatched=so_far.get("mismatched", 0),
    )
    start = int(job.resume_after) + 1 if job.resume_after else 0
    for number, (name, label) in enumerate(job.options["files"][start:], start=start):
        with default_storage.open(name, "rb") as handle:
            data = handle.read()
        enrolled_now = stored.person is None
        if already_stored(stored.person, data):  # by an attempt whose worker died before recording it
            stored.count += 1
        else:
            store_photo(batch, stored, label, data)
        enrolled = enrolled_now and stored.person is not None
        if enrolled:  # kept by id from now on: the record holds the name and metadata
            job.options = _without_name(job.options)
        # Written at once when the person was just enrolled: a resume must add to them, not enrol again.
        progress.advance(str(number), import_outcome(stored), write_now=enrolled)
    stored.finish()
    progress.write()
    return import_outcome(stored)


def _without_name(options: dict) -> dict:
    """An import's options once its person exists or it ended: the name and metadata asked for
    are the record's to keep (and erase), not the job's."""
    return {**options, "name": "", "metadata": {}} if "name" in options else options


def import_outcome(stored: StoredPhotos) -> dict:
    """What an import came to, by ids only (the pages look the names up)."""
    person = stored.person
    return {
        "person": str(person.pk) if person else None, "count": stored.count,
        "notes": stored.notes, "refused": stored.refused, "duplicates": stored.duplicates,
        "mismatched": stored.mismatched,
    }


RUNNERS = {Job.Kind.REEMBED: _reembed, Job.Kind.IMPORT: _import}


# --- Workers that died ---------------------------------------------------------------------------


def recover_orphaned_jobs(jobs=None, gone=worker.worker_gone, outage: bool = False) -> list[Job]:
    """Jobs marked running whose worker is gone (`gone(job)`): queued again to resume where their
    progress stopped, or failed once they have been started JOB_MAX_ATTEMPTS times (a job that kills
    its worker every time must not take every worker down for ever). Returns the jobs it changed.
    `outage`: they stopped because a dependency is down, which says nothing of the job: the attempt
    is not counted, and they start again only RETRY_AFTER_SECONDS later."""
    candidates = jobs if jobs is not None else Job.objects.filter(state=Job.State.RUNNING)
    changed = []
    for job in candidates:
        if job.state != Job.State.RUNNING or not gone(job):
            continue
        with transaction.atomic():
            # Only if still held by that worker: two processes recovering at once change it once.
            job = Job.objects.select_for_update().filter(pk=job.pk, state=Job.State.RUNNING, worker=job.worker).first()
            if job is None:
                continue
            worker.fail_task(job.task_id, f"The worker {job.worker} running job {job.pk} stopped.")
            if outage:
                job.attempts -= 1
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                job.state, job.finished_at = Job.State.FAILED, timezone.now()
                job.error = f"Its worker stopped during each of its {job.attempts} attempts; last {job.worker}."
                discard_staged(job)
                signals.job_finished.send(Job, job=job)
            else:
                job.state, job.worker = Job.State.QUEUED, ""
                later = timezone.now() + timedelta(seconds=RETRY_AFTER_SECONDS) if outage else None
                job.task_id = str(run_job.using(run_after=later).enqueue(str(job.pk)).id)
            job.save(update_fields=["state", "finished_at", "error", "worker", "task_id", "attempts"])
        changed.append(job)
    return changed


def requeue_stranded_jobs() -> list[Job]:
    """Queued jobs whose task no worker will run: a worker claimed the task, then the database went
    away before the job itself was claimed (records/management/commands/db_worker.py calls this once
    it is back). Each gets a new task; a duplicate is harmless, as only one can claim the job."""
    changed = []
    for job in Job.objects.filter(state=Job.State.QUEUED).exclude(task_id=""):
        if DBTaskResult.objects.filter(pk=job.task_id, status=TaskResultStatus.READY).exists():
            continue
        with transaction.atomic():
            job = Job.objects.select_for_update().filter(pk=job.pk, state=Job.State.QUEUED, task_id=job.task_id).first()
            if job is None:
                continue
            job.task_id = str(run_job.enqueue(str(job.pk)).id)
            job.save(update_fields=["task_id"])
        changed.append(job)
    return changed


