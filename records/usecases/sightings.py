"""Faces seen by something that watches — the live page (a user's camera), a camera, a video
stream — identified frame by frame, and reported once per appearance, not once per frame.

How a watcher uses it:

1. Each sampled frame: `identify(frame, collections=..., threshold=..., may_read=...)` → the frame's
   every face (up to MAX_FACES_PER_PHOTO, largest first) matched by matching's every-face path, as
   matching's `EveryFaceMatch` (`results`: `FaceIdentified`, each with `face_box`, `best_match`
   (a `Candidate`, or None: unknown), `top_matches`). A frame without a face is no error: it has no
   results. `identify` writes nothing — no event, no audit row, nothing kept for the review inbox —
   so what it names must be reported (step 2) before anyone is shown it.
2. Report what was seen, as a `Source` (what watched: `Source("stream", "front door")`,
   `Source("user", username)`), which the events carry as `data.source`:
   - a watcher that tracks faces across frames itself (a stream runner: one track is one
     appearance) calls `report(face, frame, source)` once per appearance, with the face of the
     appearance's best frame and that frame's `identify` result: one `face.recognized` or
     `face.unknown` event and one audit event (a match, its detail naming the source).
   - a watcher that does not track (the live page: the browser tracks for its display only and is
     not trusted to say what is new) calls `report_frame(frame, source, repeat_seconds, announce)`
     after every `identify`: each person named in the frame, and its unknown faces as one subject,
     is audited at most once per `repeat_seconds` per source, and with `announce` (the live page's
     door mode) sent as one event per `repeat_seconds`. The state is a database row per (source,
     subject) (`records.models.Sighting`), locked, so several workers and hosts serving one camera's
     frames agree.

The audit: a frame's names reach whoever watches, so they are audited, but per appearance (or per
person per window), not per frame: at a few frames a second one person at a door for a minute would
write hundreds of rows saying the same thing, and drown the reads worth finding. Every person shown
still has an audit event naming the source and the actor for each window they were seen in.
"""

from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from audit import log as audit
from records import signals
from records.models import Person, Sighting

from .matching import EveryFaceMatch, FaceIdentified, check_threshold, homes_of, match_every_face


@dataclass(frozen=True)
class Source:
    """What watched: its kind ("user" for the live page, "stream", "camera") and its name."""

    type: str
    name: str

    def __str__(self):
        return f"{self.type}: {self.name}"[:255]

    def as_event_data(self) -> dict:
        return {"type": self.type, "name": self.name}


def identify(frame: bytes, top_k: int = 1, threshold: float | None = None, may_read: bool = False, collections=None) -> EveryFaceMatch:
    """Every face of one frame matched, nothing written (see the module's docstring: report it).
    Raises InvalidImage, ImageTooLarge, ThresholdNotAllowed as `match` does; a caller who may not
    read people gets only candidates within the threshold."""
    return _identified(frame, top_k, threshold, may_read, collections)[0]


@dataclass(frozen=True)
class FrameIdentified:
    """`identify`'s answer with each face's embedding (in `match.results`' order), for a watcher
    that follows faces from frame to frame by what they look like (streams/tracking.py)."""

    match: EveryFaceMatch
    embeddings: tuple[np.ndarray, ...]


def identify_tracked(frame: bytes, threshold: float | None = None, collections=None) -> FrameIdentified:
    """`identify` (the nearest person, only within the threshold) with the faces' embeddings;
    nothing written either."""
    result, faces = _identified(frame, 1, threshold, False, collections)
    return FrameIdentified(result, tuple(face.embedding for face in faces))


def _identified(frame: bytes, top_k: int, threshold: float | None, may_read: bool, collections):
    """The frame's every face matched, and the DetectedFaces matched in the same order."""
    check_threshold(threshold, may_read)
    partitions = None if collections is None else [collection.partition for collection in collections]
    result, _, faces = match_every_face(frame, top_k, threshold, partitions, faceless_ok=True)
    return (result if may_read else result.within_threshold_only()), faces


def report(face: FaceIdentified, frame: EveryFaceMatch, source: Source, collections=None) -> None:
    """One appearance of `face` (one of `frame.results`): its event and its audit event."""
    with transaction.atomic():  # the event commits with its audit event, or neither
        _audit(face, frame, source)
        _announce((face,), frame, source, collections)


@dataclass(frozen=True)
class FrameReported:
    audited: tuple[FaceIdentified, ...]  # the faces of subjects audited now (the rest: within their window)
    announced: tuple[FaceIdentified, ...]  # the faces sent as events now


def report_frame(frame: EveryFaceMatch, source: Source, repeat_seconds: float, announce: bool, collections=None) -> FrameReported:
    """Each subject of the frame (a person named, or its unknown faces as one, by the largest)
    audited unless it was within `repeat_seconds` for this source, and with `announce` sent as an
    event unless it was sent within `repeat_seconds`."""
    now = timezone.now()
    window = timedelta(seconds=repeat_seconds)
    audited, announced = [], []
    with transaction.atomic():
        # Sorted: two workers locking the subjects of two frames of one camera take the rows in
        # the same order, so neither waits for a row the other holds while holding one it wants.
        for subject, face in sorted(_subjects(frame).items()):
            mark = _locked_mark(source, subject)
            audit_due = mark.audited_at is None or now - mark.audited_at >= window
            announce_due = announce and (mark.announced_at is None or now - mark.announced_at >= window)
            if audit_due:
                _audit(face, frame, source)
                mark.audited_at = now
                audited.append(face)
            if announce_due:
                mark.announced_at = now
                announced.append(face)
            if audit_due or announce_due:
                mark.save(update_fields=["audited_at", "announced_at"])
        if announced:
            _announce(tuple(announced), frame, source, collections)
    return FrameReported(tuple(audited), tuple(announced))


def _subjects(frame: EveryFaceMatch) -> dict[str, FaceIdentified]:
    """Subject -> its face in the frame: each person named, and the largest unknown face."""
    subjects: dict[str, FaceIdentified] = {}
    for face in frame.results:  # largest first: the first unknown face stands for them all
        subjects.setdefault(face.best_match.id if face.best_match else Sighting.UNKNOWN, face)
    return subjects


def _locked_mark(source: Source, subject: str) -> Sighting:
    # Locked (the unique (source, subject) makes a second creator wait, then fetch it): two workers
    # serving frames of one camera at once must not both find the subject not yet reported and
    # both report it.
    mark, _ = Sighting.objects.select_for_update().get_or_create(source=str(source), subject=subject)
    return mark


def _audit(face: FaceIdentified, frame: EveryFaceMatch, source: Source) -> None:
    best = face.best_match
    audit.record(
        audit.Action.MATCH,
        target=best.id if best else "",
        detail={
            "sighting": str(source),
            "recognized": best is not None,
            "distance": best.distance if best else None,
            "threshold": frame.threshold,
            "face_box": face.face_box,
            "faces_detected": frame.faces_detected,
        },
    )


def _announce(faces: tuple[FaceIdentified, ...], frame: EveryFaceMatch, source: Source, collections) -> None:
    reported = replace(frame, results=faces)
    signals.faces_matched.send(
        Person, result=reported, homes=homes_of(reported), collections=collections, source=source.as_event_data()
    )
