"""Errors of the face pipeline. Each carries the HTTP status the API answers with."""


class FaceError(Exception):
    status_code = 400

    def __init__(self, detail: str, neutral: str | None = None):
        super().__init__(detail)
        self.detail = detail
        # The same refusal naming no one, for a caller who may not see people and for the audit
        # log (which names people by id only); most refusals name no one and have one text.
        self.neutral = detail if neutral is None else neutral


class InvalidImage(FaceError):
    """Not a usable image: empty, not an image, truncated, unsupported format, too small."""

    status_code = 400


class ImageTooLarge(FaceError):
    """More bytes or pixels than the configured limits."""

    status_code = 413


class NoFaceDetected(FaceError):
    status_code = 422


class MultipleFacesDetected(FaceError):
    """Several faces where the caller asked for exactly one (strict enrolment)."""

    status_code = 422

    def __init__(self, detail: str, faces_detected: int):
        super().__init__(detail)
        self.faces_detected = faces_detected


class NoReferenceFace(FaceError):
    """A person to verify against has no photo embedded by the active model."""

    status_code = 422


class PoorQuality(FaceError):
    """A face too small, blurred or turned to enrol (recognition/quality.py); `reason` says which."""

    status_code = 422

    def __init__(self, detail: str, reason: str, quality: dict, faces_detected: int):
        super().__init__(detail)
        self.reason = reason
        self.quality = quality
        self.faces_detected = faces_detected
