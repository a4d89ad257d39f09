"""Feedback on a recognition: a reviewer confirms or corrects a face a match named, within
MATCH_FEEDBACK_HOURS of the match (its faces are kept that long: inbox/keeping.keep_named).

- confirmed: the face becomes a photo of the person (MATCH_FEEDBACK_CONFIRM_ADDS_PHOTO), through
  adding a photo (its quality gate, and the 1:1 check), unless it is a copy of a photo they have;
- "not this person": the face is kept as one they are not (NotThem, in the `<model key>#not` index
  a match consults: records/usecases/matching.not_them), so they are never named for it again, nor
  for a copy of it, nor (MATCH_FEEDBACK_NOT_THEM_RULE) for a face nearer to it than to their photos;
  then the face becomes a photo of the right person when the reviewer says who (`record`), or an
  unknown face in the inbox (into its cluster) where the collection keeps them.

Each returns a frozen dataclass or raises a domain error (NotFound, AlreadyDone, ReviewRefused);
all of it is audited. No HTTP here."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from recognition.errors import FaceError
from recognition.models import FaceVector
from recognition.vectors.indexes import purpose_key
from audit import log as audit
from records.models import Collection, Person
from records.usecases import enrolment
from records.usecases.errors import AlreadyDone, NoReferenceFace, NotFound
from records.usecases.matching import NOT_THEM
from records.usecases.photos import open_audited
from records.usecases.verification import nearest_photo

from . import keeping
from .models import MatchedFace, NotThem
from .review import ReviewRefused


def kept_since() -> datetime:
    """The oldest match still kept for feedback: an older one is gone, whether or not the purge ran."""
    return timezone.now() - timedelta(hours=settings.MATCH_FEEDBACK_HOURS)


def kept_faces(collections):
    """The named faces of the matches still kept, of people in these collections (a queryset)."""
    return MatchedFace.objects.filter(match__seen_at__gte=kept_since(), collection__in=collections)


def matched_face(match_id, position: int, collections) -> MatchedFace:
    """Face `position` of a kept match, if it named someone of these collections; NotFound for an
    unknown or expired match, and for a face of a collection the caller may not see."""
    try:
        face = kept_faces(collections).select_related("match", "person").filter(match_id=match_id, position=position).first()
    except ValidationError:  # not a UUID
        face = None
    if face is None:
        raise NotFound(
            f"No recognition kept with match_id '{match_id}' and face {position}: unknown, expired "
            f"(kept MATCH_FEEDBACK_HOURS, {settings.MATCH_FEEDBACK_HOURS}), or a face nobody was named for."
        )
    return face


@dataclass(frozen=True)
class FeedbackTaken:
    match_id: str
    face: int
    correct: bool
    named: Person  # whom the match named
    record: Person | None  # whom the reviewer said it is
    photo: str | None  # the photo the face became (of `named` when confirmed, else of `record`)
    refused: str | None  # why it became no photo, when one was asked for
    unknown_face_id: str | None  # kept in the inbox instead (not this person, nobody said who)


def adds_photo(correct: bool, instead) -> bool:
    """Whether this feedback makes the face a photo (of whom it is `instead`, a person or their id,
    or of the person confirmed): the caller must then be allowed to add photos."""
    return instead is not None or (correct and settings.MATCH_FEEDBACK_CONFIRM_ADDS_PHOTO)


def give(face: MatchedFace, correct: bool, record: Person | None = None) -> FeedbackTaken:
    """Take the reviewer's word on one named face, once (AlreadyDone the second time). Audited."""
    if correct and record is not None:
        raise ReviewRefused("record_id: only with correct: false (who it is instead).")
    if record is not None and record.pk == face.person_id:
        raise ReviewRefused("record_id: that is the person the match named; say correct: true.")
    becomes = (record or face.person) if adds_photo(correct, record) else None
    refused = _copy_of_a_photo(becomes, face) if becomes is not None else None
    with transaction.atomic():
        # Held against deletion before the "not them" row pointing at them is inserted (the race:
        # Person.delete): an erasure that began first commits, and the face is then gone with it.
        named = {face.person_id, *([record.pk] if record is not None else [])}
        held = {person.pk for person in Person.objects.filter(pk__in=named).held_against_delete()}
        # Locked: two reviewers answering for the same face at once; the second is told it was done.
        locked = MatchedFace.objects.select_for_update().filter(pk=face.pk).first()
        if locked is None:
            raise NotFound(f"The recognition '{face.match_id}' was erased meanwhile (expired, or its person erased).")
        if record is not None and record.pk not in held:
            raise NotFound(f"No record with id '{record.pk}': it was erased meanwhile.")
        if locked.feedback:
            raise AlreadyDone(f"Feedback on face {face.position} of match '{face.match_id}' was given already.")
        locked.feedback = MatchedFace.Feedback.CORRECT if correct else MatchedFace.Feedback.WRONG
        locked.feedback_at = timezone.now()
        locked.save(update_fields=["feedback", "feedback_at"])
        if not correct:
            _keep_as_not_them(face, record)
        detail = {"match": str(face.match_id), "face": face.position, "correct": correct}
        if record is not None:
            detail["record"] = str(record.pk)
        if refused:
            detail["refused"] = refused
        audit.record(audit.Action.FEEDBACK, target=face.person_id, detail=detail)
    photo = unknown_face_id = None
    if becomes is not None and refused is None:
        photo, refused = _photo_of(becomes, face)
    elif not correct and record is None:
        unknown_face_id = _to_inbox(face)
    return FeedbackTaken(str(face.match_id), face.position, correct, face.person, record, photo, refused, unknown_face_id)


def _copy_of_a_photo(person: Person, face: MatchedFace) -> str | None:
    """Why the face is not added as their photo when it is a copy of one they have, else None."""
    try:
        distance, _ = nearest_photo(person, face.vector, face.match.model_key)
    except NoReferenceFace:
        return None
    if distance <= settings.NEAR_COPY_DISTANCE:
        return f"A copy of a photo the person has (distance {max(0.0, distance):.4f}, NEAR_COPY_DISTANCE {settings.NEAR_COPY_DISTANCE}): not added."
    return None


def _keep_as_not_them(face: MatchedFace, record: Person | None) -> None:
    """Inside the feedback's transaction: the face, as one its named person is not."""
    vector = FaceVector.objects.store(
        purpose_key(face.match.model_key, NOT_THEM), face.person_id, face.vector, Collection.partition_of(face.collection_id)
    )
    NotThem.objects.create(person_id=face.person_id, face_of=record, face_vector=vector)


def _read(face: MatchedFace) -> bytes:
    with face.crop.open("rb") as handle:
        return handle.read()


def _photo_of(person: Person, face: MatchedFace) -> tuple[str | None, str | None]:
    """The face added as a photo of `person` (adding a photo's checks, audited there): the photo's id,
    or why it was refused."""
    try:
        added = enrolment.add_photo(person, _read(face))
    except (FaceError, NotFound) as refusal:
        return None, getattr(refusal, "neutral", None) or str(refusal)
    return str(added.image.pk), None


def _to_inbox(face: MatchedFace) -> str | None:
    """The face kept as an unknown face of its collection's inbox (into its cluster) when the
    collection keeps them; its id, or None."""
    collection = Collection.objects.get(pk=face.collection_id)
    if not collection.keep_unknown_faces:
        return None
    kept = keeping.FaceToKeep(_read(face), face.face_box, face.detection_score, face.quality, face.vector)
    [unknown_face_id] = keeping.keep_in(collection, face.match.model_key, [kept], how="not_them")
    return str(unknown_face_id) if unknown_face_id else None


@dataclass(frozen=True)
class Recognition:
    """A kept recognition, for the Recent recognitions page."""

    match_id: str
    face: int
    face_id: int  # the kept face's row, for its crop's address
    seen_at: datetime
    person: Person
    distance: float
    feedback: str  # MatchedFace.Feedback


def recent(collections, limit: int = 200) -> list[Recognition]:
    """The named faces of the kept matches of people in these collections, newest first (at most
    `limit`). Audited as a read of them."""
    faces = list(kept_faces(collections).select_related("match", "person").order_by("-match__seen_at", "position")[:limit])
    found = [
        Recognition(str(f.match_id), f.position, f.pk, f.match.seen_at, f.person, f.distance, f.feedback) for f in faces
    ]
    audit.record_read(audit.Action.READ_MATCHED, count=len(found), detail={"recognitions": len(found)})
    return found


def open_crop(face: MatchedFace):
    """The kept face's crop, open for reading, its read audited (NotFound when its file is missing)."""
    return open_audited(
        face.crop, "face", audit.Action.READ_MATCHED, face.person_id, {"match": str(face.match_id), "face": face.position}
    )
