"""Subject access (GDPR art. 15): everything held about one person, as a zip.

The archive is written to an anonymous temporary file (no name on disk, ever), streamed by the
response and gone when the response closes it: an export must not outlive its download, or it
would be one more copy for an erasure to miss.
"""

import json
import tempfile
import zipfile
from pathlib import PurePosixPath

from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse

from audit import log as audit
from audit.export import event_as_theirs, events_naming, hide_others, their_probe
from jobs.models import Job

from .models import FaceImage, Person

README = """Everything this face identification service holds about one person.

person.json       the record: name, metadata, dates, and for every stored photo its face box,
                  landmarks, detection score, the recognition model's key and the face vector
                  (the biometric template) computed from it
photos/           every stored photo, as stored
audit_events.json every audit log event naming this person or their photos: enrolments,
                  matches that returned them, reads, exports, changes, with who and when
probes/           photos sent to a match that recognised this person, where the service keeps them
jobs.json         background jobs naming this person (an import of their photos, one that found
                  them a possible duplicate): what was asked and what it came to
"""


def _photo(image: FaceImage) -> dict:
    return {
        "id": image.pk,
        "file": _photo_path(image),
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "face_box": image.face_box,
        "landmarks": image.landmarks,
        "detection_score": image.detection_score,
        "faces_detected": image.faces_detected,
        "model_key": image.model_key,
        "vector_id": image.vector_id,
        "embedding": image.vector.tolist(),
        "created_at": image.created_at,
    }


def _photo_path(image: FaceImage) -> str:
    return f"photos/{image.pk}{PurePosixPath(image.image.name).suffix}"


def _job(job: Job, theirs: set[str]) -> dict:
    """A job as the person may see it: others' ids hidden, as in the events."""
    held = {"options": job.options, "result": job.result}
    return {
        "id": job.pk, "kind": job.kind, "state": job.state, "created_at": job.created_at,
        "finished_at": job.finished_at, **json.loads(hide_others(json.dumps(held), theirs)),
    }


def _json(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def export_person(person: Person):
    """The zip, as an open anonymous temporary file at its start (closing it frees it), and how
    many photos it holds."""
    images = list(person.images.select_related("face_vector"))
    photo_ids = [str(image.pk) for image in images]
    theirs = {str(person.pk), *photo_ids}
    events = list(events_naming(person.pk, photo_ids))
    archive = tempfile.TemporaryFile()
    try:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zip_file:
            zip_file.writestr("README.txt", README)
            record = {
                "id": person.pk, "name": person.name, "metadata": person.metadata,
                "created_at": person.created_at, "updated_at": person.updated_at,
                "photos": [_photo(image) for image in images],
            }
            zip_file.writestr("person.json", _json(record))
            zip_file.writestr("audit_events.json", _json([event_as_theirs(event, theirs) for event in events]))
            jobs = Job.objects.naming(person.pk)
            zip_file.writestr("jobs.json", _json([_job(job, theirs | {str(job.pk)}) for job in jobs]))
            for image in images:
                _add_file(zip_file, _photo_path(image), image.image)
            for event in events:
                if their_probe(event, theirs):
                    _add_file(zip_file, f"probes/{event.pk}", event.probe)
    except BaseException:
        archive.close()
        raise
    archive.seek(0)
    return archive, len(images)


def _add_file(zip_file: zipfile.ZipFile, path: str, stored) -> None:
    try:
        with stored.open("rb") as handle:
            # Photos are compressed already: stored as they are.
            zip_file.writestr(path, handle.read(), zipfile.ZIP_STORED)
    except FileNotFoundError:  # a row whose file went missing (check_integrity reports it)
        zip_file.writestr(f"{path}.missing.txt", "This file is recorded but missing from the storage.\n")


def export_response(person: Person) -> FileResponse:
    """The download of a person's export, for the API and the pages alike. Audited."""
    archive, photos = export_person(person)
    audit.record_read(audit.Action.EXPORT, target=person.pk, count=1 + photos, detail={"photos": photos})
    return FileResponse(archive, as_attachment=True, filename=f"person-{person.pk}.zip", content_type="application/zip")
