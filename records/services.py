"""What the API, the pages and the commands do with people and photos: one code path for all."""

import time
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction

from recognition.errors import MultipleFacesDetected
from recognition.gallery import get_gallery
from recognition.imaging import decode_image
from recognition.service import FaceAnalysis, get_service

from . import audit
from .models import FaceImage, Person


@dataclass(frozen=True)
class Enrolment:
    person: Person
    image: FaceImage
    faces_detected: int


def analyse_photo(data: bytes) -> FaceAnalysis:
    """Decode and run the pipeline; raises InvalidImage, ImageTooLarge (400/413)."""
    return get_service().analyse(decode_image(data))


def _checked(analysis: FaceAnalysis, strict: bool) -> FaceAnalysis:
    analysis.primary  # raises NoFaceDetected
    if strict and len(analysis.faces) > 1:
        raise MultipleFacesDetected(
            f"{len(analysis.faces)} faces were detected; strict enrolment needs exactly one.",
            faces_detected=len(analysis.faces),
        )
    return analysis


def _store_image(person: Person, data: bytes, analysis: FaceAnalysis) -> FaceImage:
    image = FaceImage(person=person, image=ContentFile(data, name="upload"))
    image.apply_analysis(analysis)
    image.save()
    return image


def enrol(name: str, data: bytes, metadata: dict | None = None, strict: bool = False) -> Enrolment:
    # The slow part runs before the transaction opens, so no lock is held during inference.
    with audit.refusals(audit.Action.ENROL):
        analysis = _checked(analyse_photo(data), strict)
    with transaction.atomic():
        person = Person.objects.create(name=name, metadata=metadata or {})
        image = _store_image(person, data, analysis)
        _record_stored(audit.Action.ENROL, image, analysis)
    return Enrolment(person, image, len(analysis.faces))


def add_image(person: Person, data: bytes, strict: bool = False) -> Enrolment:
    with audit.refusals(audit.Action.ADD_PHOTO):
        analysis = _checked(analyse_photo(data), strict)
    with transaction.atomic():
        # Lock the person so a concurrent delete cannot leave this photo without its owner.
        person = Person.objects.select_for_update().get(pk=person.pk)
        image = _store_image(person, data, analysis)
        _record_stored(audit.Action.ADD_PHOTO, image, analysis)
    return Enrolment(person, image, len(analysis.faces))


def _record_stored(action: str, image: FaceImage, analysis: FaceAnalysis) -> None:
    detail = {"photo": str(image.pk), "faces_detected": len(analysis.faces)}
    audit.record(action, target=image.person_id, status=201, detail=detail)


def match(data: bytes, top_k: int, threshold: float | None = None) -> dict:
    """The match response body; raises NoFaceDetected when the photo has no face. Audited."""
    with audit.refusals(audit.Action.MATCH, probe=data):
        result = _match(data, top_k, threshold)
    audit.record_match(result, data, top_k)
    return result


def _match(data: bytes, top_k: int, threshold: float | None) -> dict:
    started = time.perf_counter()
    service = get_service()
    analysis = analyse_photo(data)
    face = analysis.primary
    calibration = service.calibration
    threshold = service.default_threshold if threshold is None else threshold
    neighbours = get_gallery(service.model_key).search(face.embedding, top_k)
    people = Person.objects.in_bulk([n.person_id for n in neighbours])
    top_matches = []
    for neighbour in neighbours:
        person = people.get(neighbour.person_id)
        if person is None:  # deleted between the search and this query
            continue
        top_matches.append(
            {
                "id": str(person.pk),
                "name": person.name,
                "confidence": round(calibration.confidence(neighbour.distance), 4),
                "distance": round(neighbour.distance, 4),
                "metadata": person.metadata,
                "within_threshold": neighbour.distance <= threshold,
            }
        )
    best = top_matches[0] if top_matches and top_matches[0]["within_threshold"] else None
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
        "model": service.model_key,
    }
