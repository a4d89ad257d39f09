"""Rebuilding the index, re-embedding stored photos, and checking that everything agrees."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.template.defaultfilters import pluralize
from easy_thumbnails.models import Thumbnail

from audit import log as audit
from audit.models import AuditEvent
from jobs.models import Job
from recognition.errors import FaceError
from recognition.imaging import decode_image
from recognition.models import FaceVector
from recognition.service import get_service
from recognition.vectors.indexes import get_vector_index, rebuild

from .erasure import erase_pending, erase_stored
from .imports import STAGING_FOLDER
from .models import Collection, FaceImage, PendingErasure, Person

FACES_FOLDER = "faces"
AUDIT_FOLDER = "audit"  # probe photos kept with AUDIT_KEEP_PROBES (AuditEvent.probe)


def rebuild_index(reembed: bool = False, progress=None, after: str = "", outcome: "ReembedOutcome | None" = None) -> dict:
    """Rebuild the active model's index (and, re-embedding, every model key's the photos had).
    Re-embedding goes through the photos in enrolment order: `after` (a `position`) and the
    `outcome` of the photos before it resume a re-embed that stopped there (records/jobs.py)."""
    started = time.perf_counter()
    model_key = get_service().model_key
    outcome = outcome or ReembedOutcome()
    keys = {model_key}
    if reembed:
        keys |= set(FaceVector.objects.values_list("model_key", flat=True).distinct())
        outcome = reembed_images(FaceImage.objects.all(), progress=progress, outcome=outcome, after=after)
    for key in keys:
        rebuild(key)
    result = {
        "total_vectors": get_vector_index(model_key).count(),
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "model": model_key,
        "failed": outcome.failures,
        "deleted_meanwhile": outcome.deleted_meanwhile,
    }
    detail = {
        "reembed": reembed, "total_vectors": result["total_vectors"], "failed": len(outcome.failures),
        "deleted_meanwhile": outcome.deleted_meanwhile,
    }
    audit.record(audit.Action.REBUILD, target=model_key, detail=detail)
    return result


def position(image: FaceImage) -> str:
    """Where a photo stands in enrolment order (when it was stored, then its id), as text: a photo
    deleted since still marks the place."""
    return f"{image.created_at.isoformat()} {image.pk}"


def photos_after(after: str = "", images=None):
    """The photos (of `images`, else every one) in enrolment order, or those after the `position`
    `after`."""
    photos = (FaceImage.objects.all() if images is None else images).order_by("created_at", "pk")
    if not after:
        return photos
    created_at, pk = after.split(" ")
    created_at = datetime.fromisoformat(created_at)
    return photos.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk))


@dataclass
class ReembedOutcome:
    failures: list[dict] = field(default_factory=list)  # photos that kept their old vector, and why
    deleted_meanwhile: int = 0  # photos deleted while the others were re-embedded: skipped


def deleted_meanwhile_note(count: int) -> str:
    return f"{count} photo{pluralize(count)} deleted while re-embedding {pluralize(count, 'was,were')} skipped."


def reembed_images(images, progress=None, outcome: ReembedOutcome | None = None, after: str = "") -> ReembedOutcome:
    """Recompute each photo's face with the active model, in enrolment order (from after the
    `position` `after`). A photo that now fails keeps its old vector (reported) rather than being
    dropped; one deleted meanwhile is skipped and counted. `progress(photo, outcome)` is called
    after each photo, whatever became of it."""
    outcome = outcome or ReembedOutcome()
    for image in _a_page_at_a_time(images, after):
        _reembed_one(image, outcome)
        if progress:
            progress(image, outcome)
    return outcome


def _a_page_at_a_time(images, after: str, size: int = 200):
    """The photos read a page at a time, with no read left open while they are re-embedded: on
    SQLite an open read (a queryset iterator) pins a snapshot, and the next write from that
    connection fails at once with "database is locked" once another process has written since."""
    while True:
        page = list(photos_after(after, images)[:size])
        yield from page
        if len(page) < size:
            return
        after = position(page[-1])


def _reembed_one(image: FaceImage, outcome: ReembedOutcome) -> None:
    try:
        with image.image.open("rb") as handle:
            analysis = get_service().analyse(decode_image(handle.read()))
        face = analysis.primary
    except (FaceError, OSError) as exc:
        if not FaceImage.objects.filter(pk=image.pk).exists():  # its file went with its row
            outcome.deleted_meanwhile += 1
            return
        outcome.failures.append({"image_id": str(image.pk), "error": getattr(exc, "detail", str(exc))})
        return
    with transaction.atomic():
        # Locked, so a delete cannot commit between this check and the update; a photo whose
        # delete committed while it was analysed would otherwise be an update of no row.
        current = FaceImage.objects.select_for_update().filter(pk=image.pk).only("face_vector", "person").first()
        if current is None:
            outcome.deleted_meanwhile += 1
            return
        # The owner and collection read now, with the photo locked, not from the page read before
        # the analysis: a record moved meanwhile (records.usecases.people.change_record, which
        # locks this row too) gets its new vector in its new collection's partition, not in the
        # one it left, and a photo merged into another record meanwhile (records.usecases.merging,
        # the same lock) its new owner's, not that of a record which is gone.
        image.person_id = current.person_id
        collection_id = Person.objects.filter(pk=image.person_id).values_list("collection_id", flat=True).get()
        image.apply_face(face, len(analysis.faces))
        image.face_vector_id = current.face_vector_id  # the vector the locked row holds now
        image.replace_vector(
            analysis.model_key, face.embedding, Collection.partition_of(collection_id),
            also_saved=["face_box", "landmarks", "detection_score", "faces_detected"],
        )


@dataclass
class IntegrityReport:
    rows_without_file: list[str] = field(default_factory=list)
    files_without_row: list[str] = field(default_factory=list)
    rows_without_vector: list[int] = field(default_factory=list)
    vectors_without_row: list[int] = field(default_factory=list)
    pending_erasures: list[str] = field(default_factory=list)
    # What another app keeps (KeptFiles.label, e.g. the inbox's unknown faces) -> the ids of its
    # rows whose file is missing.
    kept_rows_without_file: dict[str, list[str]] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.rows_without_file or self.files_without_row or self.rows_without_vector
            or self.vectors_without_row or self.pending_erasures or self.kept_rows_without_file
        )


@dataclass(frozen=True)
class KeptFiles:
    """Files an app above records keeps in storage, one per row (the inbox's crops of unknown
    faces), as a receiver of `checking_files` answers them."""

    label: str  # what the rows are, plural: "unknown faces"
    folder: str
    rows: dict[str, str]  # stored file name -> the id of its row
    # Erases the rows of these ids, whose file is missing (audited by the app): what --repair does.
    erase_rows: Callable[[list[str]], None]


# Sent by check_integrity; each receiver answers a KeptFiles, whose folder is compared with its rows
# as faces/ is with the photos' (records cannot import the apps that keep them).
checking_files = Signal()


def _stored_files(folder: str):
    try:
        directories, files = default_storage.listdir(folder)
    except FileNotFoundError:  # nothing stored yet (an object store has no empty folders to list)
        return
    for name in files:
        yield str(PurePosixPath(folder, name))
    for directory in directories:
        yield from _stored_files(str(PurePosixPath(folder, directory)))


def _files_with_a_row() -> dict[str, set[str]]:
    """Folder -> the files the database knows there: face thumbnails (easy-thumbnails' rows), probe
    photos kept with audit events, and the staged photos of queued or running imports."""
    staged = [job.options.get("files", []) for job in Job.objects.active().filter(kind=Job.Kind.IMPORT)]
    return {
        settings.THUMBNAIL_BASEDIR: set(Thumbnail.objects.values_list("name", flat=True)),
        AUDIT_FOLDER: set(AuditEvent.objects.exclude(probe="").values_list("probe", flat=True)),
        STAGING_FOLDER: {name for files in staged for name, _ in files},
    }


def check_integrity(repair: bool = False) -> IntegrityReport:
    """Database rows vs stored photos vs this process's index (after catching up) and its snapshot."""
    report = IntegrityReport()
    if repair:
        erased = erase_pending().erased
        if erased:
            report.repaired.append(f"erased {erased} files of deletes whose erasure had failed")
    report.pending_erasures = [str(pending) for pending in PendingErasure.objects.order_by("pk")]
    names = dict(FaceImage.objects.values_list("image", "id"))
    # Listed, not checked with exists(): an object store answers exists("faces") with False.
    stored = set(_stored_files(FACES_FOLDER))
    report.rows_without_file = sorted(str(names[n]) for n in names if n not in stored)
    # Every folder of photos of people, not only the photos': a thumbnail or a kept probe left by
    # a delete that raced its making, a staged import no job will run.
    others = _files_with_a_row()
    stored_elsewhere = {name for folder in others for name in _stored_files(folder)}
    report.files_without_row = sorted((stored - set(names)) | (stored_elsewhere - set().union(*others.values())))
    kept = [files for _, files in checking_files.send(sender=KeptFiles)]
    for files in kept:
        in_folder = set(_stored_files(files.folder))
        report.files_without_row = sorted({*report.files_without_row, *(in_folder - set(files.rows))})
        missing = sorted(files.rows[name] for name in files.rows if name not in in_folder)
        if missing:
            report.kept_rows_without_file[files.label] = missing
    model_key = get_service().model_key
    gallery = get_vector_index(model_key)
    gallery.sync()
    photos = FaceImage.objects.filter(face_vector__model_key=model_key)
    wanted = set(photos.values_list("face_vector__vector_id", flat=True))
    have = gallery.vector_ids()
    report.rows_without_vector = sorted(wanted - have)
    report.vectors_without_row = sorted(have - wanted)
    if repair:
        for name in report.files_without_row:
            erase_stored(name)
            report.repaired.append(f"deleted stray file {name}")
        for files in kept:
            missing = report.kept_rows_without_file.get(files.label)
            if missing:
                files.erase_rows(missing)
                report.repaired.append(f"erased {len(missing)} {files.label} whose file was missing")
        if report.rows_without_vector or report.vectors_without_row:
            rebuild(model_key)
            report.repaired.append(f"rebuilt the {model_key} index from the database")
        if report.repaired:
            audit.record(audit.Action.REPAIR, target=model_key, detail={"repaired": report.repaired})
    return report
