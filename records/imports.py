"""Photos of one person sent together from the pages (enrolment, or adding photos on their page):
each through enrolment (`records.usecases.enrolment`), the first accepted one enrolling the person unless one is given.

Up to PAGES_PHOTOS_PER_REQUEST photos are analysed in the request; more are a background job
(records/jobs.py): their bytes are staged in the media storage under `imports/<job id>/` for the
worker, which stores them as any enrolment does and erases the staged files when it ends.
"""

import hashlib
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.defaultfilters import pluralize

from recognition.errors import FaceError

from .models import Collection, FaceImage, Person
from .usecases import enrolment
from .usecases.analysis import read_photo
from .usecases.errors import PhotoMismatch, PossibleDuplicate

STAGING_FOLDER = "imports"


@dataclass
class PhotoBatch:
    """What the operator asked: who the photos are of (a new person's name, metadata and
    collection, or `person`), and how strictly."""

    name: str = ""
    metadata: dict = field(default_factory=dict)
    strict: bool = False
    allow_duplicates: bool = False
    allow_mismatch: bool = False  # photos that do not look like the person are stored all the same
    collection: Collection | None = None
    person: Person | None = None

    @classmethod
    def from_form(cls, data: dict, person: Person | None = None) -> "PhotoBatch":
        return cls(
            name=data.get("name", ""), metadata=data.get("metadata", {}), strict=data["strict"],
            allow_duplicates=bool(data.get("allow_duplicates")), allow_mismatch=bool(data.get("allow_mismatch")),
            collection=data.get("collection"), person=person,
        )

    def as_options(self) -> dict:
        """As a job keeps it (JSON)."""
        return {
            "name": self.name, "metadata": self.metadata, "strict": self.strict,
            "allow_duplicates": self.allow_duplicates, "allow_mismatch": self.allow_mismatch, "collection": self.collection.name if self.collection else None,
            "person": str(self.person.pk) if self.person else None,
        }

    @classmethod
    def from_options(cls, options: dict) -> "PhotoBatch":
        """Person.DoesNotExist when the person it adds to was deleted meanwhile."""
        collection = options.get("collection")
        return cls(
            name=options["name"], metadata=options["metadata"], strict=options["strict"],
            allow_duplicates=options["allow_duplicates"], allow_mismatch=options.get("allow_mismatch", False),
            collection=Collection.objects.get(name=collection) if collection else None,
            person=Person.objects.get(pk=options["person"]) if options.get("person") else None,
        )


@dataclass
class StoredPhotos:
    person: Person | None = None
    count: int = 0
    notes: list[str] = field(default_factory=list)  # photos refused, group photos
    duplicates: list[dict] = field(default_factory=list)  # people a refused new face looks like
    refused: list[str] = field(default_factory=list)
    mismatched: int = 0  # photos refused for not looking like the person

    def finish(self) -> None:
        """Once every photo was tried: the refusals become notes when anything was stored (else
        they are the answer)."""
        if self.count:
            self.notes += [f"Not added: {message}" for message in self.refused]


def store_photo(batch: PhotoBatch, stored: StoredPhotos, label: str, data: bytes) -> None:
    """One photo through the service; refusals are noted in `stored`, never raised."""
    # A new person looking like someone enrolled is refused until the operator confirms; a photo
    # added to someone is stored with a warning.
    confirmed = batch.person is not None or batch.allow_duplicates
    on_duplicate = enrolment.ALLOW_DUPLICATES if confirmed else enrolment.REJECT_DUPLICATES
    # A photo added to a person (or to the one its batch just enrolled) that is not them at the 1:1
    # threshold is refused until the operator confirms it is.
    on_mismatch = enrolment.ALLOW_MISMATCH if batch.allow_mismatch else enrolment.REJECT_MISMATCH
    try:
        if stored.person is None:
            done = enrolment.enrol(
                batch.name, data, batch.metadata, batch.strict, on_duplicate, collection=batch.collection
            )
        else:
            done = enrolment.add_photo(stored.person, data, batch.strict, on_duplicate, on_mismatch)
    # What is noted is kept with a job (records/jobs.py): people by id, never by name (the page
    # showing it looks the names up), so an erasure that deletes them leaves no name behind.
    except PhotoMismatch as exc:
        stored.mismatched += 1
        stored.refused.append(f"{label}: {exc.neutral}")
        return
    except PossibleDuplicate as exc:
        found = [look_alike.by_id() for look_alike in exc.possible_duplicates]
        stored.duplicates += [d for d in found if d not in stored.duplicates]
        stored.refused.append(f"{label}: {exc.neutral}")
        return
    except FaceError as exc:
        stored.refused.append(f"{label}: {exc.neutral}")
        return
    stored.person, stored.count = done.person, stored.count + 1
    if done.faces_detected > 1:
        stored.notes.append(f"{label}: {done.faces_detected} faces were detected; the largest one was used.")
    if done.possible_duplicates:
        others = len(done.possible_duplicates)
        stored.notes.append(
            f"{label}: this face looks more like {others} other record{pluralize(others)}. Check it is the right person."
        )


def already_stored(person: Person | None, data: bytes) -> bool:
    """Whether this very file is already one of the person's photos: a resumed import job does
    not add again the photos it stored before its worker died."""
    return person is not None and FaceImage.objects.filter(person=person, sha256=hashlib.sha256(data).hexdigest()).exists()


def stage(job_id, uploads, staged: list) -> list[list[str]]:
    """Each upload's bytes saved for the worker, appended to `staged` as [stored name, "photo N"]
    (so a failure midway leaves the list of what to erase); an upload above MAX_UPLOAD_BYTES
    raises ImageTooLarge, as in the request. Not the upload's file name: it is often the person's."""
    for number, upload in enumerate(uploads):
        data = read_photo(upload)
        name = default_storage.save(f"{STAGING_FOLDER}/{job_id}/{number:05d}", ContentFile(data))
        staged.append([name, f"photo {number + 1}"])
    return staged
