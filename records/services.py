"""What the API, the pages and the commands do with people and photos: one code path for all."""

import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.http import Http404

from access.scopes import MATCH, READ
from recognition.backends.base import DetectedFace
from recognition.calibration import Calibration
from recognition.errors import FaceError, ImageTooLarge, MultipleFacesDetected, NoReferenceFace, PoorQuality
from recognition.imaging import DecodedImage, decode_image, for_storage
from recognition.service import FaceAnalysis, FaceService, get_service
from recognition.vectors.indexes import get_vector_index
from recognition.vectors.types import Neighbour

from . import audit, signals
from .models import Collection, FaceImage, Person


@dataclass(frozen=True)
class Enrolment:
    person: Person
    image: FaceImage
    faces_detected: int
    quality: dict | None = None  # the enrolled face's measured quality (recognition/quality.py)
    # People the face is within the match threshold of (for a photo added to someone: people it is
    # nearer to than to them), nearest first: {id, name, distance}.
    possible_duplicates: list[dict] = field(default_factory=list)


class PossibleDuplicate(FaceError):
    """A face to be enrolled looks like someone already enrolled, and the caller asked for a refusal."""

    status_code = 409
    # Who may see the people (`detail`, `possible_duplicates`): a caller who may identify or read.
    disclosed_to = (MATCH, READ)

    def __init__(self, detail: str, neutral: str, possible_duplicates: list[dict]):
        super().__init__(detail, neutral)
        self.possible_duplicates = possible_duplicates
        self.audit_detail = {"possible_duplicates": ids_and_distances(possible_duplicates)}


def ids_and_distances(duplicates: list[dict]) -> list[dict]:
    """Possible duplicates without their names: for the audit log, and for the distances a caller
    who may not see people still gets (no more than the 409 it would get with on_duplicate=reject)."""
    return [{"id": d["id"], "distance": d["distance"]} for d in duplicates]


def read_photo(upload) -> bytes:
    """The bytes of an uploaded file, refusing one above the limit before reading it into memory
    (Django spools large uploads to disk; reading one would load it whole)."""
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"The image is {upload.size:,} bytes; the limit is {settings.MAX_UPLOAD_BYTES:,} bytes."
        )
    return upload.read()


def analyse_photo(data: bytes, to_store: bool = False, embed_all: bool = False) -> FaceAnalysis:
    """Decode and run the pipeline, embedding the largest face (every face with `embed_all`);
    raises InvalidImage, ImageTooLarge (400/413). A photo to store is analysed as it will be
    stored: upright, re-encoded without its metadata."""
    image = decode_image(data)
    return get_service().analyse(for_storage(image) if to_store else image, embed_all=embed_all)


def analyse_photos(photos: list[bytes], to_store: bool = False) -> list[FaceAnalysis | FaceError]:
    """`analyse_photo` of each photo, their faces embedded together (bulk import); a photo that
    cannot be decoded gives its error in its place."""
    decoded: list[DecodedImage | FaceError] = []
    for data in photos:
        try:
            image = decode_image(data)
            decoded.append(for_storage(image) if to_store else image)
        except FaceError as exc:
            decoded.append(exc)
    analyses = iter(get_service().analyse_many([image for image in decoded if not isinstance(image, FaceError)]))
    return [image if isinstance(image, FaceError) else next(analyses) for image in decoded]


def _checked(analysis: FaceAnalysis, strict: bool) -> FaceAnalysis:
    face = analysis.primary  # raises NoFaceDetected
    if strict and len(analysis.faces) > 1:
        raise MultipleFacesDetected(
            f"{len(analysis.faces)} faces were detected; strict enrolment needs exactly one.",
            faces_detected=len(analysis.faces),
        )
    _check_quality(face, strict, len(analysis.faces))
    return analysis


def _check_quality(face: DetectedFace, strict: bool, faces_detected: int) -> None:
    """Refuse a face too small, blurred or turned to be a good reference (QUALITY_CHECK, or a
    strict enrolment even with it off), at the active model's calibrated limits."""
    limits = get_service().calibration.quality_limits
    if not (settings.QUALITY_CHECK or strict) or limits is None or face.quality is None:
        return
    problem = limits.problem(face.quality)
    if problem:
        reason, detail = problem
        raise PoorQuality(detail, reason=reason, quality=face.quality.as_dict(), faces_detected=faces_detected)


def _quality_of(face: DetectedFace) -> dict | None:
    return face.quality.as_dict() if face.quality else None


def _possible_duplicates(face: DetectedFace, collection_id, of: Person | None = None) -> list[dict]:
    """People of the collection within the match threshold of `face`, nearest first; for a photo of
    `of`, only the people it is nearer to than to `of`'s own photos. Only within the collection:
    a key limited to it must not learn of anyone elsewhere, and the same face at two sites is two
    records on purpose."""
    service = get_service()
    rule = MatchRule.of(service, None)
    [candidates] = _search(service, [face], RUNNER_UP_CANDIDATES, [Collection.partition_of(collection_id)])
    own_distance = None
    if of is not None:
        try:
            own_distance, _ = _nearest_photo(of, face.embedding, service.model_key)
        except NoReferenceFace:
            pass
    return [
        {"id": str(person.pk), "name": person.name, "distance": round(neighbour.distance, 4)}
        for neighbour, person in candidates
        if neighbour.distance <= rule.threshold
        and (of is None or (person.pk != of.pk and (own_distance is None or neighbour.distance < own_distance)))
    ]


def _checked_for_duplicates(
    action: str, face: DetectedFace, collection_id, on_duplicate: str, of: Person | None = None
) -> list[dict]:
    """`_possible_duplicates`, refused with PossibleDuplicate for on_duplicate=reject. Audited as an
    identification (a `match` event, `duplicate_check` naming the action) when anyone is found:
    even a caller who may not see who learns from the answer that someone like this is enrolled."""
    duplicates = _possible_duplicates(face, collection_id, of)
    if not duplicates:
        return duplicates
    audit.record(
        audit.Action.MATCH,
        target=duplicates[0]["id"],
        detail={"duplicate_check": action, "returned": ids_and_distances(duplicates)},
    )
    if on_duplicate == REJECT_DUPLICATES:
        names = ", ".join(f"'{d['name']}' ({d['distance']})" for d in duplicates)
        whom = "someone already enrolled" if of is None else f"someone else more than '{of.name}'"
        neutral_whom = "someone already enrolled" if of is None else "someone else more than this record's person"
        raise PossibleDuplicate(
            f"This face looks like {whom}: {names}. Nothing was stored.",
            f"This face looks like {neutral_whom} ({len(duplicates)} within the match threshold). Nothing was stored.",
            duplicates,
        )
    return duplicates


# on_duplicate: what enrolment does when the face looks like someone enrolled.
ALLOW_DUPLICATES, REJECT_DUPLICATES = "allow", "reject"
# on_mismatch: what adding a photo to someone does when its face is not theirs at the 1:1 threshold.
ALLOW_MISMATCH, REJECT_MISMATCH = "allow", "reject"


class PhotoMismatch(FaceError):
    """A photo to be added to someone does not show them (beyond the model's 1:1 threshold from
    every photo of theirs), and the caller did not say to add it anyway."""

    status_code = 409

    def __init__(self, detail: str, neutral: str, distance: float, threshold: float):
        super().__init__(detail, neutral)
        self.distance, self.threshold = distance, threshold
        self.audit_detail = {"distance": distance, "threshold": threshold}


def _mismatch(person: Person, face: DetectedFace, on_mismatch: str) -> dict:
    """Whether the face is `person` (their nearest photo, at the 1:1 verification threshold, as
    `verify` decides): {} when it is, or when they have no photo of the active model to compare
    with; else the distance and threshold, kept in the audit event when the caller allowed it.
    One mistake (or one malicious key) must not silently make a stranger match as them."""
    service = get_service()
    try:
        distance, _ = _nearest_photo(person, face.embedding, service.model_key)
    except NoReferenceFace:
        return {}
    threshold = service.calibration.verification_threshold
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


def _store_image(person: Person, analysis: FaceAnalysis) -> FaceImage:
    image = FaceImage(person=person)
    image.apply_analysis(analysis)
    image.save()
    return image


def enrol(
    name: str,
    data: bytes,
    metadata: dict | None = None,
    strict: bool = False,
    on_duplicate: str = ALLOW_DUPLICATES,
    collection: Collection | None = None,
) -> Enrolment:
    """Enrol a person into `collection` (default: the `default` one)."""
    # The slow part runs before the transaction opens, so no lock is held during inference. Two
    # enrolments of the same new face at the same moment can both pass the duplicate check: it is
    # a warning for people enrolling by hand, not a uniqueness constraint.
    with audit.refusals(audit.Action.ENROL):
        analysis = _checked(analyse_photo(data, to_store=True), strict)
        collection = collection or Collection.default()
        duplicates = _checked_for_duplicates(audit.Action.ENROL, analysis.primary, collection.pk, on_duplicate)
    with transaction.atomic():
        collection = _locked(collection)
        person = Person.objects.create(name=name, metadata=metadata or {}, collection=collection)
        image = _store_image(person, analysis)
        _record_stored(audit.Action.ENROL, image, analysis)
        signals.record_enrolled.send(Person, person=person, image=image)
    return Enrolment(person, image, len(analysis.faces), _quality_of(analysis.primary), duplicates)


def add_image(
    person: Person,
    data: bytes,
    strict: bool = False,
    on_duplicate: str = ALLOW_DUPLICATES,
    on_mismatch: str = REJECT_MISMATCH,
) -> Enrolment:
    with audit.refusals(audit.Action.ADD_PHOTO):
        analysis = _checked(analyse_photo(data, to_store=True), strict)
        mismatch = _mismatch(person, analysis.primary, on_mismatch)
        duplicates = _checked_for_duplicates(
            audit.Action.ADD_PHOTO, analysis.primary, person.collection_id, on_duplicate, of=person
        )
    with transaction.atomic():
        # Lock the person so a concurrent delete cannot leave this photo without its owner; one
        # that committed while the photo was analysed is answered like an unknown id.
        try:
            person = Person.objects.select_for_update().get(pk=person.pk)
        except Person.DoesNotExist:
            raise Http404(f"No record with id '{person.pk}': it was deleted while the photo was analysed.")
        image = _store_image(person, analysis)
        _record_stored(audit.Action.ADD_PHOTO, image, analysis, mismatch)
        signals.record_changed.send(Person, person=person, fields=[], photo=image)
    return Enrolment(person, image, len(analysis.faces), _quality_of(analysis.primary), duplicates)


def _locked(collection: Collection) -> Collection:
    """The collection, locked until the transaction ends: a delete of it that commits while a
    person is enrolled into it would otherwise leave that person behind (and the collection's
    delete failing on them). One deleted while the photo was analysed is answered as unknown."""
    try:
        return Collection.objects.select_for_update().get(pk=collection.pk)
    except Collection.DoesNotExist:
        raise Http404(f"No collection named '{collection.name}': it was deleted while the photo was analysed.")


def change_record(person: Person, changes: dict, collection: Collection | None = None) -> Person:
    """Change a record's name and metadata and, with `collection`, move it there, all or nothing.

    A vector's partition is fixed for its life (recognition.FaceVector), so a move stores each
    photo's vector again in the new collection's partition and removes the old one: every index
    learns of both from the change log, and a search of the old collection stops finding them in
    the same commit as the record moves.
    """
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        for field, value in changes.items():
            setattr(person, field, value)
        fields = [*changes]
        if collection is not None and collection.pk != person.collection_id:
            collection = _locked(collection)  # not deleted while the record moves into it
            for image in person.images.select_related("face_vector").select_for_update(of=("self",)):
                image.replace_vector(image.face_vector.model_key, image.face_vector.vector, collection.partition)
            person.collection = collection
            fields.append("collection")
        person.save(update_fields=[*fields, "updated_at"])
        signals.record_changed.send(Person, person=person, fields=fields, photo=None)
    return person


def change_collection(collection: Collection, keep_unknown_faces: bool) -> Collection:
    """Turn the keeping of unknown faces on or off; off erases those kept (the inbox's receiver of
    the save, in this transaction). Audited."""
    with transaction.atomic():
        # Locked: a match keeping a face reads the setting under this lock (inbox/keeping.py), so
        # no face is kept after the commit that turned it off.
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        if collection.keep_unknown_faces != keep_unknown_faces:
            collection.keep_unknown_faces = keep_unknown_faces
            collection.save(update_fields=["keep_unknown_faces"])
            audit.record(
                audit.Action.UPDATE_COLLECTION, target=collection.name, detail={"keep_unknown_faces": keep_unknown_faces}
            )
    return collection


class DefaultCollectionKept(FaceError):
    """The `default` collection holds whoever is enrolled without naming one: it always exists."""

    status_code = 409


def delete_collection(collection: Collection) -> int:
    """Erase every person of the collection exactly as deleting each would (the same signals:
    vectors, files, kept probes, admin history, audit), then the collection. The number erased."""
    if collection.is_default:
        raise DefaultCollectionKept("The 'default' collection cannot be deleted; delete its records one by one.")
    with transaction.atomic():
        # Locked against enrolments into it (see _locked).
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        people = collection.people.count()
        collection.people.all().delete()
        collection.delete()
        audit.record(audit.Action.DELETE_COLLECTION, target=collection.name, detail={"people": people})
    return people


def open_stored_photo(image: FaceImage):
    """The stored file of a photo, open for reading. A row whose file went missing (a failed
    disk, a restore; `check_integrity` reports it) is a 404 for the API and the pages alike."""
    try:
        return image.image.open("rb")
    except FileNotFoundError:
        raise Http404("The file of this photo is missing.")


def _record_stored(action: str, image: FaceImage, analysis: FaceAnalysis, mismatch: dict | None = None) -> None:
    detail = {"photo": str(image.pk), "faces_detected": len(analysis.faces), **(mismatch or {})}
    audit.record(action, target=image.person_id, status=201, detail=detail)


class ThresholdNotAllowed(FaceError):
    """A threshold above MATCH_MAX_THRESHOLD from a caller who may not read people."""

    status_code = 400


def match(
    data: bytes,
    top_k: int,
    threshold: float | None = None,
    may_read: bool = True,
    all_faces: bool = False,
    collections=None,
) -> dict:
    """The match response body: the largest face, or with `all_faces` every face (up to
    MAX_FACES_PER_PHOTO, largest first, as `results`); raises NoFaceDetected when the photo has no
    face. Audited.

    A caller who may read people (the `read` scope, `records.view_person`) gets the nearest top_k
    people, within the threshold or not. One who may only match (a door camera) learns no more
    than who the photo is: only candidates within the threshold, and a threshold of at most
    MATCH_MAX_THRESHOLD, so the gallery cannot be searched for look-alikes. Same shape either way,
    for every face of `results` too.

    With `collections` (Collection objects) only their people are candidates, however near a person
    of another is; None searches everyone.
    """
    with audit.refusals(audit.Action.MATCH, probe=data):
        if not may_read:
            _check_threshold_allowed(threshold)
        partitions = None if collections is None else [collection.partition for collection in collections]
        match_photo = _match_every_face if all_faces else _match
        result, analysis, unnamed = match_photo(data, top_k, threshold, partitions)
        _keep_unnamed(analysis, unnamed, collections)
    if not may_read:
        for face in result.get("results", [result]):
            face["top_matches"] = [candidate for candidate in face["top_matches"] if candidate["within_threshold"]]
    with transaction.atomic():  # the faces' events commit with the match's audit event, or neither
        audit.record_match(result, data, top_k)
        signals.faces_matched.send(Person, result=result, homes=_homes(result), collections=collections)
    return result


def _homes(result: dict) -> dict[str, str]:
    """Record id -> collection name of everyone a match named (the events say where each was)."""
    named = [face["best_match"]["id"] for face in result.get("results", [result]) if face["best_match"]]
    if not named:
        return {}
    return {str(pk): name for pk, name in Person.objects.filter(pk__in=named).values_list("pk", "collection__name")}


# Sent by every match with the faces it left unnamed, before it answers: the review inbox keeps
# them where the collection asks for it (inbox/receivers.py). Records knows nothing of who listens.
# Arguments: `analysis` (the photo and its faces), `faces` (the unnamed DetectedFaces) and
# `collections` (those searched; None: everyone). Each receiver answers a list, per face, of the id
# the answer gives as `unknown_face_id` (None: not kept).
faces_left_unnamed = Signal()


def _keep_unnamed(analysis: FaceAnalysis, unnamed: list[tuple[DetectedFace, dict]], collections) -> None:
    if not unnamed:
        return
    faces = [face for face, _ in unnamed]
    for _, kept in faces_left_unnamed.send(sender=FaceAnalysis, analysis=analysis, faces=faces, collections=collections):
        for (_, answer), unknown_face_id in zip(unnamed, kept):
            if unknown_face_id is not None:
                answer["unknown_face_id"] = str(unknown_face_id)


def _check_threshold_allowed(threshold: float | None) -> None:
    limit = get_service().match_max_threshold
    if threshold is not None and threshold > limit:
        raise ThresholdNotAllowed(
            f"threshold: {threshold} is above MATCH_MAX_THRESHOLD ({limit}), the most a caller "
            "that may not read people may ask for."
        )


def verify(data: bytes, person: Person | None = None, other: bytes | None = None) -> dict:
    """1:1: is the face of `data` the same person as `person` (the nearest of their stored
    photos decides) or as the face of `other`? At the model's calibrated verification threshold.
    Raises NoFaceDetected for either photo without a face, NoReferenceFace for a person without a
    photo embedded by the active model. Audited."""
    with audit.refusals(audit.Action.VERIFY, probe=data):
        result = _verify(data, person, other)
    audit.record(
        audit.Action.VERIFY,
        target=person.pk if person else "",
        detail={"verified": result["verified"], "distance": result["distance"], "threshold": result["threshold"]},
        probe=data,
    )
    return result


def _verify(data: bytes, person: Person | None, other: bytes | None) -> dict:
    started = time.perf_counter()
    service = get_service()
    face = analyse_photo(data).primary
    reference = {}
    if person is not None:
        distance, image = _nearest_photo(person, face.embedding, service.model_key)
        reference = {"record_id": str(person.pk), "image_id": str(image.pk), "face_box2": list(image.face_box)}
    else:
        second = analyse_photo(other).primary
        distance = float(1.0 - face.embedding @ second.embedding)
        reference = {"face_box2": list(second.box)}
    distance = max(0.0, distance)
    threshold = service.calibration.verification_threshold
    return {
        "verified": distance <= threshold,
        "distance": round(distance, 4),
        "confidence": round(service.calibration.confidence(distance), 4),
        "threshold": threshold,
        "model": service.model_key,
        "face_box": list(face.box),
        **reference,
        "processing_time_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _nearest_photo(person: Person, embedding, model_key: str) -> tuple[float, FaceImage]:
    images = list(person.images.filter(face_vector__model_key=model_key).select_related("face_vector"))
    if not images:
        missing = f"has no photo embedded by the active model ({model_key}) to compare with."
        raise NoReferenceFace(f"'{person.name}' {missing}", f"Record '{person.pk}' {missing}")
    distances = 1.0 - np.stack([image.vector for image in images]) @ embedding
    nearest = int(np.argmin(distances))
    return float(distances[nearest]), images[nearest]


# People looked at beyond top_k to find the best match's runner-up, or, in a group photo, the next
# candidate of a face whose nearest person was named on a nearer face.
RUNNER_UP_CANDIDATES = 10

# A face's candidates, nearest first: (neighbour in the index, the person it belongs to).
Candidates = list[tuple[Neighbour, Person]]


@dataclass(frozen=True)
class MatchRule:
    """When a candidate may be named: within the threshold, and clearly nearer than the nearest
    person of another name after it (the runner-up ratio)."""

    threshold: float
    max_ratio: float
    calibration: Calibration

    @classmethod
    def of(cls, service: FaceService, threshold: float | None) -> "MatchRule":
        threshold = service.default_threshold if threshold is None else threshold
        return cls(threshold, service.default_max_ratio, service.calibration)

    def accepts(self, candidates: Candidates, position: int) -> bool:
        ratio = _runner_up_ratio(candidates[position:])
        return candidates[position][0].distance <= self.threshold and (ratio is None or ratio <= self.max_ratio)

    def described(self, neighbour: Neighbour, person: Person) -> dict:
        return {
            "id": str(person.pk),
            "name": person.name,
            "confidence": round(self.calibration.confidence(neighbour.distance), 4),
            "distance": round(neighbour.distance, 4),
            "metadata": person.metadata,
            "within_threshold": neighbour.distance <= self.threshold,
        }


def _search(service: FaceService, faces: list[DetectedFace], top_k: int, partitions=None) -> list[Candidates]:
    """Each face's nearest people (of `partitions` only, unless None), one database query for all
    of them. A person deleted between the search and the query is left out."""
    vectors = [face.embedding for face in faces]
    found = get_vector_index(service.model_key).search_many(vectors, max(top_k, RUNNER_UP_CANDIDATES), partitions)
    people = Person.objects.in_bulk({n.person_id for neighbours in found for n in neighbours})
    return [[(n, people[n.person_id]) for n in neighbours if n.person_id in people] for neighbours in found]


def _identification(candidates: Candidates, named: int | None, rule: MatchRule, top_k: int) -> dict:
    """Who one face is (the candidate at position `named`, or nobody) and its nearest people."""
    best = rule.described(*candidates[named]) if named is not None else None
    ratio = _runner_up_ratio(candidates[named or 0 :])
    return {
        "recognized": best is not None,
        "best_match": {k: v for k, v in best.items() if k != "within_threshold"} if best else None,
        "top_matches": [rule.described(neighbour, person) for neighbour, person in candidates[:top_k]],
        "runner_up_ratio": None if ratio is None else round(ratio, 4),
    }


def _answer_of_model(rule: MatchRule, service: FaceService, started: float) -> dict:
    return {
        "processing_time_ms": round((time.perf_counter() - started) * 1000, 1),
        "threshold": rule.threshold,
        "max_ratio": rule.max_ratio,
        "model": service.model_key,
    }


def _match(data: bytes, top_k: int, threshold: float | None, partitions: list[str] | None) -> dict:
    started = time.perf_counter()
    service = get_service()
    rule = MatchRule.of(service, threshold)
    analysis = analyse_photo(data)
    face = analysis.primary
    [candidates] = _search(service, [face], top_k, partitions)
    named = 0 if candidates and rule.accepts(candidates, 0) else None
    identified = _identification(candidates, named, rule, top_k)
    ratio = identified.pop("runner_up_ratio")
    result = {
        **identified,
        "face_detected": True,
        "faces_detected": len(analysis.faces),
        "face_box": list(face.box),
        "quality": _quality_of(face),
        # Every face found, largest (the one matched) first, for drawing boxes over the photo.
        "faces": [{"face_box": list(f.box), "detection_score": f.score} for f in analysis.faces],
        **_answer_of_model(rule, service, started),
        "runner_up_ratio": ratio,
    }
    return result, analysis, [] if result["recognized"] else [(face, result)]


def _match_every_face(data: bytes, top_k: int, threshold: float | None, partitions: list[str] | None) -> dict:
    started = time.perf_counter()
    service = get_service()
    rule = MatchRule.of(service, threshold)
    analysis = analyse_photo(data, embed_all=True)
    analysis.primary  # raises NoFaceDetected
    # The MAX_FACES_PER_PHOTO largest, the only ones embedded (recognition's analyse).
    faces = [face for face in analysis.faces if face.embedding is not None]
    candidates = _search(service, faces, top_k, partitions)
    results = [
        {
            "face_box": list(face.box),
            "detection_score": face.score,
            "quality": _quality_of(face),
            **_identification(found, named, rule, top_k),
        }
        for face, found, named in zip(faces, candidates, assign_names(candidates, rule))
    ]
    answer = {
        "results": results,
        "face_detected": True,
        "faces_detected": len(analysis.faces),
        "faces_truncated": len(analysis.faces) > len(faces),
        **_answer_of_model(rule, service, started),
    }
    return answer, analysis, [(face, result) for face, result in zip(faces, results) if not result["recognized"]]


def assign_names(faces: list[Candidates], rule: MatchRule) -> list[int | None]:
    """For each face, the position of the candidate it is named as, or None: unknown.

    One person is named at most once per photo. The acceptable (face, candidate) pairs are taken
    nearest first, so when two faces have the same nearest person the nearer face keeps the name
    and the other falls to its next acceptable candidate, or to unknown.
    """
    acceptable = sorted(
        (neighbour.distance, face, position)
        for face, candidates in enumerate(faces)
        for position, (neighbour, _) in enumerate(candidates)
        if rule.accepts(candidates, position)
    )
    named: list[int | None] = [None] * len(faces)
    taken = set()
    for _, face, position in acceptable:
        person = faces[face][position][1].pk
        if named[face] is None and person not in taken:
            named[face] = position
            taken.add(person)
    return named


def _runner_up_ratio(candidates: Candidates) -> float | None:
    """Best distance over the distance of the nearest person with another name.

    A stranger is usually about as far from several enrolled people; someone enrolled stands out
    from the rest. Requiring the best match to be clearly nearer than the runner-up keeps
    strangers out in a large gallery while accepting many more enrolled people than a stricter
    distance would (bench/RESULTS.md). Records with the same name are taken as the same person
    enrolled twice, not as a competitor. None when there is no other person to compare with.
    """
    if not candidates:
        return None
    best, best_person = candidates[0]
    for neighbour, person in candidates[1:]:
        if person.name.casefold() != best_person.name.casefold():
            return best.distance / max(neighbour.distance, 1e-6)
    return None
