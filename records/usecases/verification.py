"""1:1: is the face of a photo a given person, or the face of another photo?"""

import time
from dataclasses import dataclass

import numpy as np

from audit import log as audit
from recognition.policy import MatchPolicy
from recognition.service import get_service
from records.models import FaceImage, Person

from . import analysis
from .errors import NoReferenceFace, refusals


@dataclass(frozen=True)
class Verification:
    verified: bool  # distance <= threshold: the same person
    distance: float
    confidence: float
    threshold: float  # the model's 1:1 verification threshold
    model: str
    face_box: list[int]  # of the photo checked
    face_box2: list[int]  # of the other photo, or of the person's nearest stored photo
    processing_time_ms: float
    record_id: str | None = None  # the person compared with, and their nearest photo
    image_id: str | None = None


def verify(data: bytes, person: Person | None = None, other: bytes | None = None) -> Verification:
    """1:1: is the face of `data` the same person as `person` (the nearest of their stored
    photos decides) or as the face of `other`? At the model's calibrated verification threshold.
    Raises NoFaceDetected for either photo without a face, NoReferenceFace for a person without a
    photo embedded by the active model. Audited."""
    with refusals(audit.Action.VERIFY, probe=data):
        result = _verify(data, person, other)
    audit.record(
        audit.Action.VERIFY,
        target=person.pk if person else "",
        detail={"verified": result.verified, "distance": result.distance, "threshold": result.threshold},
        probe=data,
    )
    return result


def _verify(data: bytes, person: Person | None, other: bytes | None) -> Verification:
    started = time.perf_counter()
    service = get_service()
    face = analysis.analyse_photo(data).primary
    if person is not None:
        distance, image = nearest_photo(person, face.embedding, service.model_key)
        reference = {"record_id": str(person.pk), "image_id": str(image.pk), "face_box2": list(image.face_box)}
    else:
        second = analysis.analyse_photo(other).primary
        distance = float(1.0 - face.embedding @ second.embedding)
        reference = {"face_box2": list(second.box)}
    distance = max(0.0, distance)
    policy = MatchPolicy.of(service.model_key)
    threshold = policy.verification_threshold
    return Verification(
        verified=distance <= threshold,
        distance=round(distance, 4),
        confidence=round(policy.calibration.confidence(distance), 4),
        threshold=threshold,
        model=service.model_key,
        face_box=list(face.box),
        **reference,
        processing_time_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def nearest_photo(person: Person, embedding, model_key: str) -> tuple[float, FaceImage]:
    """The distance of `embedding` to the nearest of the person's photos embedded by `model_key`,
    and that photo; NoReferenceFace when they have none."""
    images = list(person.images.filter(face_vector__model_key=model_key).select_related("face_vector"))
    if not images:
        missing = f"has no photo embedded by the active model ({model_key}) to compare with."
        raise NoReferenceFace(f"'{person.name}' {missing}", f"Record '{person.pk}' {missing}")
    distances = 1.0 - np.stack([image.vector for image in images]) @ embedding
    nearest = int(np.argmin(distances))
    return float(distances[nearest]), images[nearest]
