"""Erasure that always completes, whatever deletes the data (API, pages, admin, shell, bulk).

Deleting a photo, alone or with its person, writes a `PendingErasure` row in the deleting
transaction (records/signals.py). Once the delete commits, the file is erased, the index drops the
vector and has its snapshot written again without it (recognition's faiss_backend: in the
background, replacing the old file), and the row is removed. When storage fails the row stays, and the erasure
is retried until it succeeds: by the next request a process serves (at most every
ERASURE_RETRY_SECONDS), by `manage.py erase_pending` and by `manage.py check_integrity --repair`.
A rolled-back delete leaves no row, so its photo is never touched.

The database side of an erasure needs no retry: it commits with the delete (the rows, the index's
removal log, the admin history scrubbed, kept probe photos unlinked from their audit events).
"""

import logging
import time
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django_tasks_db.models import DBTaskResult

from audit import log as audit
from audit.models import AuditEvent
from jobs.models import Job
from recognition.models import FaceVector
from recognition.vectors.indexes import get_vector_index

from .models import PendingErasure

logger = logging.getLogger(__name__)

# What the admin history says of an erased object instead of its name.
ERASED = "[erased]"


@dataclass(frozen=True)
class ErasureResult:
    erased: int
    failed: int


def schedule(*pending: PendingErasure) -> None:
    """Erase these stored files (and drop the vectors from these models' indexes) once the current
    transaction commits. Call it inside the deleting transaction."""
    rows = PendingErasure.objects.bulk_create(pending)
    if rows:
        # robust: whatever goes wrong after the commit is logged and left to the retries; it never
        # turns a delete that committed into an error, nor stops the erasure of the other files.
        transaction.on_commit(partial(erase_pending, [row.pk for row in rows]), robust=True)


def forget_face(face_vector_id, file_name: str) -> None:
    """A deleted face's vector and stored file (a photo, an unknown face's crop): the vector's
    removal is logged in the deleting transaction; the file and the index snapshot are erased once
    the delete commits, retried until done. Call inside the deleting transaction."""
    vector = FaceVector.objects.filter(pk=face_vector_id)
    model_key = vector.values_list("model_key", flat=True).first() or ""
    vector.delete()
    schedule(PendingErasure(file_name=file_name, model_key=model_key))


def erase_pending(pks=None) -> ErasureResult:
    """Erase what is pending (all of it, or the rows `pks`); what fails stays for the next try."""
    rows = PendingErasure.objects.order_by("pk")
    if pks is not None:
        rows = rows.filter(pk__in=pks)
    erased = failed = 0
    purged: dict[str, bool] = {}  # model key -> whether no copy of its removed vectors is left
    for pending in rows:
        try:
            if pending.file_name:
                # Every photo, thumbnail and kept probe lives in the default storage; deleting a
                # file that is already gone succeeds, so a retry after a partial success is safe.
                erase_stored(pending.file_name)
            if pending.model_key and pending.model_key not in purged:
                # This process's index drops it now and its snapshot goes until it is written
                # again without it (in the background), Milvus applies the delete now.
                purged[pending.model_key] = get_vector_index(pending.model_key).purge_removed()
            if pending.model_key and not purged[pending.model_key]:
                raise SnapshotBeingWritten(pending.model_key)
        # Any storage backend's error (OSError, botocore's, ...) means the same: try again later.
        except Exception as error:
            logger.warning("Erasure of %s failed, will be retried: %r", pending, error)
            PendingErasure.objects.filter(pk=pending.pk).update(
                attempts=F("attempts") + 1, last_error=repr(error)[:1000]
            )
            failed += 1
            continue
        PendingErasure.objects.filter(pk=pending.pk).delete()
        erased += 1
    return ErasureResult(erased, failed)


class SnapshotBeingWritten(Exception):
    """Another process is writing the index snapshot, which may still hold the vector: retried."""


def erase_stored(name: str) -> None:
    """Delete a stored file. On S3 every version of it goes (with versioning on, a plain delete
    only hides the object behind a delete marker and keeps its bytes as a noncurrent version); the
    storage's credentials then need s3:ListBucketVersions and s3:DeleteObjectVersion."""
    bucket = getattr(default_storage, "bucket", None)  # django-storages' S3Storage: its boto3 Bucket
    if bucket is None:
        default_storage.delete(name)
        return
    from storages.utils import clean_name

    key = default_storage._normalize_name(clean_name(name))  # the object's key: AWS_LOCATION prefixed
    # Unversioned, the object is its one version ("null"); a delete marker is a version too.
    for version in bucket.object_versions.filter(Prefix=key):
        if version.object_key == key:
            version.delete()


_next_retry = 0.0


def retry_if_due() -> None:
    """Retry pending erasures, at most every ERASURE_RETRY_SECONDS in this process (one cheap query
    when nothing is pending)."""
    global _next_retry
    now = time.monotonic()
    if now < _next_retry:
        return
    _next_retry = now + settings.ERASURE_RETRY_SECONDS
    if PendingErasure.objects.exists():
        erase_pending()


def scrub_admin_history(instance) -> None:
    """The admin's history (LogEntry) names objects by their str(), which for a person or a photo is
    the person's name, in `object_repr` and in the change messages of inline photos. Call inside
    the deleting transaction: the admin writes its deletion entry before deleting."""
    content_type = ContentType.objects.get_for_model(type(instance))
    LogEntry.objects.filter(content_type=content_type, object_id=str(instance.pk)).update(
        object_repr=ERASED, change_message=""
    )


def forget_kept_probes(person_id) -> None:
    """Probe photos kept with AUDIT_KEEP_PROBES of matches that recognised this person are photos
    of them: erase the files, keep the events (and the probes' SHA-256). Call inside the deleting
    transaction."""
    audit.forget_probes(AuditEvent.objects.filter(action=AuditEvent.Action.MATCH, target=str(person_id)))


def forget_jobs(person_id) -> int:
    """Delete the jobs that name this person, their staged photos (erased as photos are) and the
    task worker's rows of them. Call inside the deleting transaction: a queued or resumed import of
    theirs then finds no job to run and enrols no one again, and a running one stops at its next
    progress write (jobs/worker.py, JobTakenOver)."""
    jobs = list(Job.objects.select_for_update().naming(person_id))
    delete_jobs(jobs)
    return len(jobs)


def forget_staged(jobs) -> None:
    """The photos staged for these imports, erased as a deleted photo is (retried until done)."""
    schedule(*(PendingErasure(file_name=name) for job in jobs for name, _ in job.options.get("files", [])))


def delete_jobs(jobs: list[Job]) -> None:
    """These jobs, their staged files and every django-tasks row of theirs (a resumed job ran as
    several tasks, each argument the job's id)."""
    forget_staged(jobs)
    ids = [str(job.pk) for job in jobs]
    if ids:
        runs = Q()
        for job_id in ids:
            runs |= Q(args_kwargs__icontains=job_id)
        DBTaskResult.objects.filter(runs).delete()
    Job.objects.filter(pk__in=ids).delete()
