"""Long work off the request path: a `Job` (records.models) run as a django-tasks task by the
database backend's worker (`manage.py db_worker`, started beside gunicorn by scripts/serve), so no
request waits for it and no broker is needed.

A request creates the job and its task in one transaction and answers at once; the worker claims
it, writes its progress at most once a second (that write is also its heartbeat), and finishes it
succeeded or failed. A worker that dies mid-job (killed, host restarted) leaves it marked running:
`recover_orphaned_jobs` finds such jobs, at the worker's start (records/management/commands/
db_worker.py) and whenever a new job meets one in its way, and resumes each from the last photo it
recorded, up to JOB_MAX_ATTEMPTS starts, after which it is marked failed. Resuming is safe because
re-embedding a photo twice gives the same vector and a photo deleted meanwhile is skipped.
"""

import os
import socket
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from recognition.service import get_service

from . import audit
from .maintenance import ReembedOutcome, position, rebuild_index
from .models import FaceImage, Job

# The worker writes a job's progress at most this often: each write is one UPDATE of its row,
# which on SQLite queues behind (and holds up) the requests' writes.
PROGRESS_SECONDS = 1.0


class JobConflict(Exception):
    """A re-embed of the same model key is already queued or running."""

    def __init__(self, job: Job):
        super().__init__(f"A re-embed of {job.model_key} is already {job.state}: job {job.pk}.")
        self.job = job


class JobTakenOver(Exception):
    """This worker's job was marked failed or resumed elsewhere (its worker was taken for dead)."""


# --- Asking for a job ----------------------------------------------------------------------------


def start_reembed() -> Job:
    """Queue a re-embed of every photo with the active model, then a rebuild; JobConflict when one
    of this model key is queued or running (after taking back any whose worker is gone)."""
    model_key = get_service().model_key
    for _ in range(2):  # the conflicting job may finish between the refused insert and the look-up
        try:
            return _enqueue(Job(kind=Job.Kind.REEMBED, model_key=model_key, total=FaceImage.objects.count()))
        except IntegrityError:
            running = Job.objects.active().filter(kind=Job.Kind.REEMBED, model_key=model_key).first()
            if running is not None and not recover_orphaned_jobs([running]):
                raise JobConflict(running)
    raise JobConflict(Job.objects.active().filter(kind=Job.Kind.REEMBED, model_key=model_key).first())


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
    job = _claim(job_id)
    if job is None:  # finished, failed or resumed by another task meanwhile: nothing to do here
        return None
    with audit.acting_for(job.requested_by):
        try:
            result = RUNNERS[job.kind](job, Progress(job))
        except JobTakenOver:
            return None
        except Exception as exc:
            _finish(job, Job.State.FAILED, error=f"{type(exc).__name__}: {exc}")
            raise
    _finish(job, Job.State.SUCCEEDED, result=result)
    return result


def _claim(job_id: str) -> Job | None:
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id, state=Job.State.QUEUED).first()
        if job is None:
            return None
        job.state, job.worker, job.heartbeat_at = Job.State.RUNNING, this_worker(), now
        job.started_at = job.started_at or now
        job.attempts += 1
        job.save(update_fields=["state", "worker", "heartbeat_at", "started_at", "attempts"])
    return job


def _finish(job: Job, state: str, result: dict | None = None, error: str = "") -> None:
    Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, worker=job.worker).update(
        state=state, result=result, error=error[:2000], done=job.done, resume_after=job.resume_after,
        heartbeat_at=timezone.now(), finished_at=timezone.now(),
    )


class Progress:
    """Counts the photos done and writes the count (with where to resume, and what the photos so
    far came to) at most every PROGRESS_SECONDS; the write is the job's heartbeat too."""

    def __init__(self, job: Job):
        self.job = job
        self.written_at = time.monotonic()

    def __call__(self, image, outcome: ReembedOutcome | None = None) -> None:
        self.job.done += 1
        self.job.resume_after = position(image)
        if outcome is not None:
            self.job.options["outcome_so_far"] = {
                "failed": outcome.failures, "deleted_meanwhile": outcome.deleted_meanwhile,
            }
        if time.monotonic() - self.written_at >= PROGRESS_SECONDS:
            self.write()

    def write(self) -> None:
        written = Job.objects.filter(pk=self.job.pk, state=Job.State.RUNNING, worker=self.job.worker).update(
            done=self.job.done, resume_after=self.job.resume_after, options=self.job.options,
            heartbeat_at=timezone.now(),
        )
        if not written:
            raise JobTakenOver(self.job.pk)
        self.written_at = time.monotonic()


def _reembed(job: Job, progress: Progress) -> dict:
    so_far = job.options.get("outcome_so_far", {})
    outcome = ReembedOutcome(failures=so_far.get("failed", []), deleted_meanwhile=so_far.get("deleted_meanwhile", 0))
    result = rebuild_index(reembed=True, progress=progress, after=job.resume_after, outcome=outcome)
    progress.write()
    return result


RUNNERS = {Job.Kind.REEMBED: _reembed}


# --- Workers that died ---------------------------------------------------------------------------


def _start_time(pid) -> str | None:
    """The process's start time (clock ticks after boot, /proc/PID/stat field 22), None if there
    is no such process: with the pid it names one process, even once the pid is reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def this_worker() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{_start_time(os.getpid()) or '?'}"


def worker_gone(job: Job) -> bool:
    """On the worker's own host, whether that process still runs (asked of /proc); elsewhere (or
    without /proc), whether its heartbeat is older than JOB_WORKER_TIMEOUT."""
    host, pid, started = (job.worker.rsplit("/", 2) + ["", "", ""])[:3]
    if host == socket.gethostname() and started != "?" and _start_time(os.getpid()) is not None:
        return _start_time(pid) != started
    timeout = timedelta(seconds=settings.JOB_WORKER_TIMEOUT)
    return job.heartbeat_at is None or job.heartbeat_at < timezone.now() - timeout


def recover_orphaned_jobs(jobs=None) -> list[Job]:
    """Jobs marked running whose worker is gone: queued again to resume where their progress
    stopped, or failed once they have been started JOB_MAX_ATTEMPTS times (a job that kills its
    worker every time must not take every worker down for ever). Returns the jobs it changed."""
    candidates = jobs if jobs is not None else Job.objects.filter(state=Job.State.RUNNING)
    changed = []
    for job in candidates:
        if job.state != Job.State.RUNNING or not worker_gone(job):
            continue
        with transaction.atomic():
            # Only if still held by that worker: two processes recovering at once change it once.
            job = Job.objects.select_for_update().filter(pk=job.pk, state=Job.State.RUNNING, worker=job.worker).first()
            if job is None:
                continue
            _fail_task(job.task_id, f"The worker {job.worker} running job {job.pk} stopped.")
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                job.state, job.finished_at = Job.State.FAILED, timezone.now()
                job.error = f"Its worker stopped during each of its {job.attempts} attempts; last {job.worker}."
            else:
                job.state, job.worker = Job.State.QUEUED, ""
                job.task_id = str(run_job.enqueue(str(job.pk)).id)
            job.save(update_fields=["state", "finished_at", "error", "worker", "task_id"])
        changed.append(job)
    return changed


def _fail_task(task_id: str, reason: str) -> None:
    """The django-tasks result of a dead worker stays RUNNING for ever (the database backend
    does not look for dead workers): marked failed, so its history is true."""
    result = DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.RUNNING).first() if task_id else None
    if result is not None:
        result.set_failed(WorkerGone(reason))


class WorkerGone(Exception):
    pass
