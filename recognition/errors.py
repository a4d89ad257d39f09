"""Errors of the face pipeline: what was wrong with a photo, in words. They know nothing of HTTP:
the API answers each with its status in one place (records/api/exceptions.py)."""


class FaceError(Exception):
    """A photo refused: `detail` says why."""

    def __init__(self, detail: str, neutral: str | None = None):
        super().__init__(detail)
        self.detail = detail
        # The same refusal naming no one, for a caller who may not see people and for the audit
        # log (which names people by id only); most refusals name no one and have one text.
        self.neutral = detail if neutral is None else neutral


class InvalidImage(FaceError):
    """Not a usable image: empty, not an image, truncated, unsupported format, too small."""


class ImageTooLarge(FaceError):
    """More bytes or pixels than the configured limits."""


class NoFaceDetected(FaceError):
    """No face in the photo."""


class MultipleFacesDetected(FaceError):
    """Several faces where the caller asked for exactly one (strict enrolment)."""

    def __init__(self, detail: str, faces_detected: int):
        super().__init__(detail)
        self.faces_detected = faces_detected


class NoReferenceFace(FaceError):
    """A person to verify against has no photo embedded by the active model."""


class PoorQuality(FaceError):
    """A face too small, blurred or turned to enrol (recognition/quality.py); `reason` says which."""

    def __init__(self, detail: str, reason: str, quality: dict, faces_detected: int):
        super().__init__(detail)
        self.reason = reason
        self.quality = quality
        self.faces_detected = faces_detected
