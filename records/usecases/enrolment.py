"""Enrolment: a new person from a photo (`enrol` → `Enrolled`), another photo of someone
(`add_photo` → `PhotoAdded`), or a person's photos from a bulk import (`import_person` →
`PersonImported`). Each photo is checked (quality, strictness, whether it looks like
someone else or not like the person) before anything is stored, and audited, refused or done."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from audit import log as audit
from recognition.backends.base import DetectedFace
from recognition.policy import MatchPolicy
from recognition.service import FaceAnalysis, get_service
from records import signals
from records.models import Collection, FaceImage, Person

from . import analysis
from .collections import locked
from .errors import (
    FaceError,
    MultipleFacesDetected,
    NoReferenceFace,
    NotFound,
    PhotoMismatch,
    PoorQuality,
    PossibleDuplicate,
    refusals,
    status_of,
)
from .matching import RUNNER_UP_CANDIDATES, MatchRule, search
from .verification import nearest_photo

# on_duplicate: what enrolment does when the face looks like someone enrolled.
ALLOW_DUPLICATES, REJECT_DUPLICATES = "allow", "reject"
# on_mismatch: what adding a photo to someone does when its face is not theirs at the 1:1 threshold.
ALLOW_MISMATCH, REJECT_MISMATCH = "allow", "reject"


@dataclass(frozen=True)
class LookAlike:
    """Someone enrolled a face is within the match threshold of (for a photo added to someone:
    nearer to than to them)."""

    id: str
    name: str
    distance: float

    def by_id(self) -> dict:
        """Without the name: for the audit log, and for the distances a caller who may not see
        people still gets (no more than the 409 it would get with on_duplicate=reject)."""
        return {"id": self.id, "distance": self.distance}


@dataclass(frozen=True)
class PhotoStored:
    person: Person
    image: FaceImage
    faces_detected: int
    quality: dict | None  # the stored face's measured quality (recognition/quality.py)
    possible_duplicates: tuple[LookAlike, ...]  # nearest first


@dataclass(frozen=True)
class Enrolled(PhotoStored):
    """A new person, enrolled from their first photo."""


@dataclass(frozen=True)
class PhotoAdded(PhotoStored):
    """Another photo of someone enrolled; `possible_duplicates` are people it is nearer to."""


def enrol(
    name: str,
    data: bytes,
    metadata: dict | None = None,
    strict: bool = False,
    on_duplicate: str = ALLOW_DUPLICATES,
    collection: Collection | None = None,
) -> Enrolled:
    """Enrol a person into `collection` (default: the `default` one)."""
    # The slow part runs before the transaction opens, so no lock is held during inference. Two
    # enrolments of the same new face at the same moment can both pass the duplicate check: it is
    # a warning for people enrolling by hand, not a uniqueness constraint.
    with refusals(audit.Action.ENROL):
        found = _checked(analysis.analyse_photo(data, to_store=True), strict)
        collection = collection or Collection.default()
        duplicates = _checked_for_duplicates(audit.Action.ENROL, found.primary, collection.pk, on_duplicate)
    with transaction.atomic():
        collection = locked(collection)
        person = Person.objects.create(name=name, metadata=metadata or {}, collection=collection)
        image = _store_image(person, found)
        _record_stored(audit.Action.ENROL, image, found)
        signals.record_enrolled.send(Person, person=person, image=image)
    return Enrolled(person, image, len(found.faces), analysis.quality_of(found.primary), duplicates)


def add_photo(
    person: Person,
    data: bytes,
    strict: bool = False,
    on_duplicate: str = ALLOW_DUPLICATES,
    on_mismatch: str = REJECT_MISMATCH,
) -> PhotoAdded:
    with refusals(audit.Action.ADD_PHOTO):
        found = _checked(analysis.analyse_photo(data, to_store=True), strict)
        mismatch = _mismatch(person, found.primary, on_mismatch)
        duplicates = _checked_for_duplicates(
            audit.Action.ADD_PHOTO, found.primary, person.collection_id, on_duplicate, of=person
        )
    with transaction.atomic():
        person = _locked_person(person)
        image = _store_image(person, found)
        _record_stored(audit.Action.ADD_PHOTO, image, found, mismatch)
        signals.record_changed.send(Person, person=person, fields=[], photo=image)
    return PhotoAdded(person, image, len(found.faces), analysis.quality_of(found.primary), duplicates)


@dataclass(frozen=True)
class PhotoImported:
    label: str
    possible_duplicates: tuple[LookAlike, ...]  # as for enrol (the first photo) or add_photo


@dataclass(frozen=True)
class PhotoRefused:
    label: str
    error: FaceError  # its `neutral` text says why, naming no one


@dataclass(frozen=True)
class PersonImported:
    """The photos of one person of a bulk import (import_faces), each checked as enrolment checks
    it: the first accepted enrols them, unless someone of that name is in the collection already."""

    person: Person | None  # None when every photo was refused and nobody of that name is enrolled
    created: bool
    imported: tuple[PhotoImported, ...]
    refused: tuple[PhotoRefused, ...]


def import_person(
    name: str, photos: list[tuple[str, FaceAnalysis | FaceError]], collection: Collection | None = None
) -> PersonImported:
    """Store `photos` (labelled, analysed as `analysis.analyse_photos(..., to_store=True)` does, or
    the error that analysis gave) as photos of the person called `name` in `collection` (default:
    `default`). Quality and possible duplicates are checked per photo as for `enrol` and
    `add_photo`; a duplicate is reported, never refused (the folder says who it is), and neither is
    a photo unlike the others. One audit event for the person, whatever the number of photos."""
    collection = collection or Collection.default()
    person = Person.objects.filter(collection=collection, name=name).order_by("created_at").first()
    created, imported, refused = False, [], []
    for label, found in photos:
        try:
            if isinstance(found, FaceError):
                raise found
            _checked(found, strict=False)
            duplicates = _checked_for_duplicates(
                audit.Action.IMPORT, found.primary, collection.pk, ALLOW_DUPLICATES, of=person
            )
        except FaceError as exc:
            refused.append(PhotoRefused(label, exc))
            continue
        with transaction.atomic():
            if person is None:
                person = Person.objects.create(name=name, collection=locked(collection))
                created = True
            else:
                person = _locked_person(person)
            _store_image(person, found)
        imported.append(PhotoImported(label, duplicates))
    detail = {"photos": len(imported), "refused": len(refused), "created": created}
    if refused:
        detail["reasons"] = sorted({photo.error.neutral for photo in refused})
    # Done (201: enrolled now, 200: added to), or refused as its first photo was.
    status = 201 if created else 200 if imported or not refused else status_of(refused[0].error)
    audit.record(audit.Action.IMPORT, target=person.pk if person else "", status=status, detail=detail)
    return PersonImported(person, created, tuple(imported), tuple(refused))


def _locked_person(person: Person) -> Person:
    """Lock the person so a concurrent delete cannot leave a photo added to them without its owner;
    one that committed while the photo was analysed is answered like an unknown id."""
    try:
        return Person.objects.select_for_update().get(pk=person.pk)
    except Person.DoesNotExist:
        raise NotFound(f"No record with id '{person.pk}': it was deleted while the photo was analysed.")


def _checked(found: FaceAnalysis, strict: bool) -> FaceAnalysis:
    face = found.primary  # raises NoFaceDetected
    if strict and len(found.faces) > 1:
        raise MultipleFacesDetected(
            f"{len(found.faces)} faces were detected; strict enrolment needs exactly one.",
            faces_detected=len(found.faces),
        )
    _check_quality(face, strict, len(found.faces))
    return found


def _check_quality(face: DetectedFace, strict: bool, faces_detected: int) -> None:
    """Refuse a face too small, blurred or turned to be a good reference (QUALITY_CHECK, or a
    strict enrolment even with it off), at the active model's calibrated limits."""
    limits = MatchPolicy.of(get_service().model_key).calibration.quality_limits
    if not (settings.QUALITY_CHECK or strict) or limits is None or face.quality is None:
        return
    problem = limits.problem(face.quality)
    if problem:
        reason, detail = problem
        raise PoorQuality(detail, reason=reason, quality=face.quality.as_dict(), faces_detected=faces_detected)


def _possible_duplicates(face: DetectedFace, collection_id, of: Person | None = None) -> tuple[LookAlike, ...]:
    """People of the collection within the match threshold of `face`, nearest first; for a photo of
    `of`, only the people it is nearer to than to `of`'s own photos. Only within the collection:
    a key limited to it must not learn of anyone elsewhere, and the same face at two sites is two
    records on purpose."""
    service = get_service()
    rule = MatchRule.of(MatchPolicy.of(service.model_key), None)
    [candidates] = search(service, [face], RUNNER_UP_CANDIDATES, [Collection.partition_of(collection_id)])
    own_distance = None
    if of is not None:
        try:
            own_distance, _ = nearest_photo(of, face.embedding, service.model_key)
        except NoReferenceFace:
            pass
    return tuple(
        LookAlike(str(person.pk), person.name, round(neighbour.distance, 4))
        for neighbour, person in candidates
        if neighbour.distance <= rule.threshold
        and (of is None or (person.pk != of.pk and (own_distance is None or neighbour.distance < own_distance)))
    )


def _checked_for_duplicates(
    action: str, face: DetectedFace, collection_id, on_duplicate: str, of: Person | None = None
) -> tuple[LookAlike, ...]:
    """`_possible_duplicates`, refused with PossibleDuplicate for on_duplicate=reject. Audited as an
    identification (a `match` event, `duplicate_check` naming the action) when anyone is found:
    even a caller who may not see who learns from the answer that someone like this is enrolled."""
    duplicates = _possible_duplicates(face, collection_id, of)
    if not duplicates:
        return duplicates
    audit.record(
        audit.Action.MATCH,
        target=duplicates[0].id,
        detail={"duplicate_check": action, "returned": [look_alike.by_id() for look_alike in duplicates]},
    )
    if on_duplicate == REJECT_DUPLICATES:
        names = ", ".join(f"'{d.name}' ({d.distance})" for d in duplicates)
        whom = "someone already enrolled" if of is None else f"someone else more than '{of.name}'"
        neutral_whom = "someone already enrolled" if of is None else "someone else more than this record's person"
        raise PossibleDuplicate(
            f"This face looks like {whom}: {names}. Nothing was stored.",
            f"This face looks like {neutral_whom} ({len(duplicates)} within the match threshold). Nothing was stored.",
            duplicates,
        )
    return duplicates


def _mismatch(person: Person, face: DetectedFace, on_mismatch: str) -> dict:
    """Whether the face is `person` (their nearest photo, at the 1:1 verification threshold, as
    `verify` decides): {} when it is, or when they have no photo of the active model to compare
    with; else the distance and threshold, kept in the audit event when the caller allowed it.
    One mistake (or one malicious key) must not silently make a stranger match as them."""
    service = get_service()
    try:
        distance, _ = nearest_photo(person, face.embedding, service.model_key)
    except NoReferenceFace:
        return {}
    threshold = MatchPolicy.of(service.model_key).verification_threshold
    distance = round(max(0.0, distance), 4)
    if distance <= threshold:
        return {}
    if on_mismatch != ALLOW_MISMATCH:
        measured = f"(distance {distance} to their nearest photo; the same person is within {threshold})"
        raise PhotoMismatch(
            f"This face does not look like '{person.name}' {measured}. Nothing was stored.",
            f"This face does not look like the record's person {measured}. Nothing was stored.",
            distance, threshold,
        )
    return {"mismatch_allowed": True, "distance": distance, "threshold": threshold}


def _store_image(person: Person, found: FaceAnalysis) -> FaceImage:
    image = FaceImage(person=person)
    image.apply_analysis(found)
    image.save()
    return image


def _record_stored(action: str, image: FaceImage, found: FaceAnalysis, mismatch: dict | None = None) -> None:
    detail = {"photo": str(image.pk), "faces_detected": len(found.faces), **(mismatch or {})}
    audit.record(action, target=image.person_id, status=201, detail=detail)
