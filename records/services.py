"""What the API, the pages and the commands do with people and photos: one code path for all."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import Http404

from recognition.errors import FaceError, ImageTooLarge, MultipleFacesDetected
from recognition.gallery import get_gallery
from recognition.imaging import DecodedImage, decode_image, for_storage
from recognition.service import FaceAnalysis, get_service

from . import audit
from .models import FaceImage, Person


@dataclass(frozen=True)
class Enrolment:
    person: Person
    image: FaceImage
    faces_detected: int


def read_photo(upload) -> bytes:
    """The bytes of an uploaded file, refusing one above the limit before reading it into memory
    (Django spools large uploads to disk; reading one would load it whole)."""
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"The image is {upload.size:,} bytes; the limit is {settings.MAX_UPLOAD_BYTES:,} bytes."
        )
    return upload.read()


def analyse_photo(data: bytes, to_store: bool = False) -> FaceAnalysis:
    """Decode and run the pipeline; raises InvalidImage, ImageTooLarge (400/413). A photo to store
    is analysed as it will be stored: upright, re-encoded without its metadata."""
    image = decode_image(data)
    return get_service().analyse(for_storage(image) if to_store else image)


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
    analysis.primary  # raises NoFaceDetected
    if strict and len(analysis.faces) > 1:
        raise MultipleFacesDetected(
            f"{len(analysis.faces)} faces were detected; strict enrolment needs exactly one.",
            faces_detected=len(analysis.faces),
        )
    return analysis


def _store_image(person: Person, analysis: FaceAnalysis) -> FaceImage:
    image = FaceImage(person=person)
    image.apply_analysis(analysis)
    image.save()
    return image


def enrol(name: str, data: bytes, metadata: dict | None = None, strict: bool = False) -> Enrolment:
    # The slow part runs before the transaction opens, so no lock is held during inference.
    with audit.refusals(audit.Action.ENROL):
        analysis = _checked(analyse_photo(data, to_store=True), strict)
    with transaction.atomic():
        person = Person.objects.create(name=name, metadata=metadata or {})
        image = _store_image(person, analysis)
        _record_stored(audit.Action.ENROL, image, analysis)
    return Enrolment(person, image, len(analysis.faces))


def add_image(person: Person, data: bytes, strict: bool = False) -> Enrolment:
    with audit.refusals(audit.Action.ADD_PHOTO):
        analysis = _checked(analyse_photo(data, to_store=True), strict)
    with transaction.atomic():
        # Lock the person so a concurrent delete cannot leave this photo without its owner; one
        # that committed while the photo was analysed is answered like an unknown id.
        try:
            person = Person.objects.select_for_update().get(pk=person.pk)
        except Person.DoesNotExist:
            raise Http404(f"No record with id '{person.pk}': it was deleted while the photo was analysed.")
        image = _store_image(person, analysis)
        _record_stored(audit.Action.ADD_PHOTO, image, analysis)
    return Enrolment(person, image, len(analysis.faces))


def open_stored_photo(image: FaceImage):
    """The stored file of a photo, open for reading. A row whose file went missing (a failed
    disk, a restore; `check_integrity` reports it) is a 404 for the API and the pages alike."""
    try:
        return image.image.open("rb")
    except FileNotFoundError:
        raise Http404("The file of this photo is missing.")


def _record_stored(action: str, image: FaceImage, analysis: FaceAnalysis) -> None:
    detail = {"photo": str(image.pk), "faces_detected": len(analysis.faces)}
    audit.record(action, target=image.person_id, status=201, detail=detail)


class ThresholdNotAllowed(FaceError):
    """A threshold above MATCH_MAX_THRESHOLD from a caller who may not read people."""

    status_code = 400


def match(data: bytes, top_k: int, threshold: float | None = None, may_read: bool = True) -> dict:
    """The match response body; raises NoFaceDetected when the photo has no face. Audited.

    A caller who may read people (the `read` scope, `records.view_person`) gets the nearest top_k
    people, within the threshold or not. One who may only match (a door camera) learns no more
    than who the photo is: only candidates within the threshold, and a threshold of at most
    MATCH_MAX_THRESHOLD, so the gallery cannot be searched for look-alikes. Same shape either way.
    """
    with audit.refusals(audit.Action.MATCH, probe=data):
        if not may_read:
            _check_threshold_allowed(threshold)
        result = _match(data, top_k, threshold)
    if not may_read:
        result["top_matches"] = [candidate for candidate in result["top_matches"] if candidate["within_threshold"]]
    audit.record_match(result, data, top_k)
    return result


def _check_threshold_allowed(threshold: float | None) -> None:
    limit = get_service().match_max_threshold
    if threshold is not None and threshold > limit:
        raise ThresholdNotAllowed(
            f"threshold: {threshold} is above MATCH_MAX_THRESHOLD ({limit}), the most a caller "
            "that may not read people may ask for."
        )


# People looked at beyond top_k to find the best match's runner-up.
RUNNER_UP_CANDIDATES = 10


def _match(data: bytes, top_k: int, threshold: float | None) -> dict:
    started = time.perf_counter()
    service = get_service()
    analysis = analyse_photo(data)
    face = analysis.primary
    calibration = service.calibration
    threshold = service.default_threshold if threshold is None else threshold
    max_ratio = service.default_max_ratio
    neighbours = get_gallery(service.model_key).search(face.embedding, max(top_k, RUNNER_UP_CANDIDATES))
    people = Person.objects.in_bulk([n.person_id for n in neighbours])
    # A person deleted between the search and this query is left out.
    candidates = [(n, people[n.person_id]) for n in neighbours if n.person_id in people]
    ratio = _runner_up_ratio(candidates)
    top_matches = [
        {
            "id": str(person.pk),
            "name": person.name,
            "confidence": round(calibration.confidence(neighbour.distance), 4),
            "distance": round(neighbour.distance, 4),
            "metadata": person.metadata,
            "within_threshold": neighbour.distance <= threshold,
        }
        for neighbour, person in candidates[:top_k]
    ]
    distinct = ratio is None or ratio <= max_ratio
    best = top_matches[0] if top_matches and top_matches[0]["within_threshold"] and distinct else None
    return {
        "recognized": best is not None,
        "best_match": {k: v for k, v in best.items() if k != "within_threshold"} if best else None,
        "top_matches": top_matches,
        "face_detected": True,
        "faces_detected": len(analysis.faces),
        "face_box": list(face.box),
        # Every face found, largest (the one matched) first, for drawing boxes over the photo.
        "faces": [{"face_box": list(f.box), "detection_score": f.score} for f in analysis.faces],
        "processing_time_ms": round((time.perf_counter() - started) * 1000, 1),
        "threshold": threshold,
        "runner_up_ratio": None if ratio is None else round(ratio, 4),
        "max_ratio": max_ratio,
        "model": service.model_key,
    }


def _runner_up_ratio(candidates) -> float | None:
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
