"""What a use case refuses, in the domain's words: no HTTP here.

The photo's own problems are recognition's (recognition/errors.py); these are the refusals that
need the people enrolled. `STATUS` says how each is answered: the API answers with it
(records/api/exceptions.py, the one place that turns errors into responses) and the audit log
records it, its `status` column being HTTP-style.
"""

from contextlib import contextmanager

from recognition.errors import (
    FaceError,
    ImageTooLarge,
    InvalidImage,
    MultipleFacesDetected,
    NoFaceDetected,
    NoReferenceFace,
    PoorQuality,
)
from access.scopes import MATCH, READ
from audit import log as audit


class NotFound(Exception):
    """What a use case was given is gone: deleted meanwhile, or its file missing."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class PossibleDuplicate(FaceError):
    """A face to be enrolled looks like someone already enrolled, and the caller asked for a refusal."""

    # Who may see the people (`detail`, `possible_duplicates`): a caller who may identify or read.
    disclosed_to = (MATCH, READ)

    def __init__(self, detail: str, neutral: str, possible_duplicates: tuple):
        super().__init__(detail, neutral)
        self.possible_duplicates = possible_duplicates  # LookAlike, nearest first
        self.audit_detail = {"possible_duplicates": [look_alike.by_id() for look_alike in possible_duplicates]}


class PhotoMismatch(FaceError):
    """A photo to be added to someone does not show them (beyond the model's 1:1 threshold from
    every photo of theirs), and the caller did not say to add it anyway."""

    def __init__(self, detail: str, neutral: str, distance: float, threshold: float):
        super().__init__(detail, neutral)
        self.distance, self.threshold = distance, threshold
        self.audit_detail = {"distance": distance, "threshold": threshold}


class ThresholdNotAllowed(FaceError):
    """A threshold above MATCH_MAX_THRESHOLD from a caller who may not read people."""


class MergeRefused(FaceError):
    """Two records that cannot be merged: one record twice, one gone, or two collections."""


class AlreadyDone(FaceError):
    """Asked a second time what may be done once (feedback on a recognition): nothing was changed."""


class DefaultCollectionKept(FaceError):
    """The `default` collection holds whoever is enrolled without naming one: it always exists."""


# Looked up along the error's classes, nearest first.
STATUS = {
    NotFound: 404,
    ImageTooLarge: 413,
    NoFaceDetected: 422,
    MultipleFacesDetected: 422,
    NoReferenceFace: 422,
    PoorQuality: 422,
    PossibleDuplicate: 409,
    PhotoMismatch: 409,
    DefaultCollectionKept: 409,
    AlreadyDone: 409,
    MergeRefused: 409,
    ThresholdNotAllowed: 400,
    InvalidImage: 400,
    FaceError: 400,
}


def status_of(error: Exception) -> int:
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


@contextmanager
def refusals(action: str, probe: bytes | None = None):
    """A photo refused in the block (no face, not an image, ...) is recorded, then raised on: by
    its text that names no one, and the ids (`audit_detail`) of whom it concerns."""
    try:
        yield
    except FaceError as exc:
        detail = {"reason": exc.neutral, **getattr(exc, "audit_detail", {})}
        audit.record(action, status=status_of(exc), detail=detail, probe=probe)
        raise
