"""The worker's side of a `Job`, whatever the job does: claiming a queued job, writing its progress
(which is its heartbeat), finishing it, and telling whether the worker running one is gone. What
each kind of job does, and which task runs it, is the app's that asks for it (records/jobs.py)."""

import os
import socket
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from .models import Job

# The worker writes a job's progress at most this often: each write is one UPDATE of its row,
# which on SQLite queues behind (and holds up) the requests' writes.
PROGRESS_SECONDS = 1.0


class JobTakenOver(Exception):
    """This worker's job was marked failed or resumed elsewhere (its worker was taken for dead)."""


def claim(job_id: str) -> Job | None:
    """The queued job, now running in this process; None when it is not queued any more."""
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


def finish(job: Job, state: str, result: dict | None = None, error: str = "", options: dict | None = None) -> bool:
    """Ends a running job, if this worker still holds it; whether it did. `options`: what the job
    keeps of what was asked, when that changes as it ends."""
    return bool(Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, worker=job.worker).update(
        state=state, result=result, error=error[:2000], done=job.done, resume_after=job.resume_after,
        heartbeat_at=timezone.now(), finished_at=timezone.now(),
        options=job.options if options is None else options,
    ))


class Progress:
    """Counts the photos done and writes the count, with where to resume and what the photos so
    far came to, at most every PROGRESS_SECONDS (or at once when asked); the write is the job's
    heartbeat too."""

    def __init__(self, job: Job):
        self.job = job
        self.written_at = time.monotonic()

    def advance(self, resume_after: str, so_far: dict, write_now: bool = False) -> None:
        self.job.done += 1
        self.job.resume_after = resume_after
        self.job.options["so_far"] = so_far
        if write_now or time.monotonic() - self.written_at >= PROGRESS_SECONDS:
            self.write()

    def write(self) -> None:
        written = Job.objects.filter(pk=self.job.pk, state=Job.State.RUNNING, worker=self.job.worker).update(
            done=self.job.done, resume_after=self.job.resume_after, options=self.job.options,
            heartbeat_at=timezone.now(),
        )
        if not written:
            raise JobTakenOver(self.job.pk)
        self.written_at = time.monotonic()


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


def fail_task(task_id: str, reason: str) -> None:
    """The django-tasks result of a dead worker stays RUNNING for ever (the database backend
    does not look for dead workers): marked failed, so its history is true."""
    result = DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.RUNNING).first() if task_id else None
    if result is not None:
        result.set_failed(WorkerGone(reason))


class WorkerGone(Exception):
    pass
