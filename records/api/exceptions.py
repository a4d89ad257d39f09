"""Every error of the API answers `{"detail": "<reason>"}`, plus the face fields where they apply.

The use cases and the recognition pipeline raise errors that know no HTTP: this is the one place
that turns them (at the status of `records.usecases.errors.STATUS`), and everything else that can
go wrong, into responses.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from recognition.errors import FaceError, MultipleFacesDetected, NoFaceDetected, PoorQuality
from records.usecases.errors import NotFound, PhotoMismatch, PossibleDuplicate, status_of
from records.unavailable import RETRY_AFTER_SECONDS, dependency_down, unavailable_body

from . import disclosure
from .serializers import PossibleDuplicateSerializer

logger = logging.getLogger(__name__)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def face_error_body(exc: FaceError, key) -> dict:
    """The refusal as `key` may see it (records/api/disclosure.py)."""
    body = {"detail": disclosure.refusal_text(exc, key)}
    if isinstance(exc, NoFaceDetected):
        body.update(face_detected=False, faces_detected=0)
    elif isinstance(exc, MultipleFacesDetected):
        body.update(face_detected=True, faces_detected=exc.faces_detected)
    elif isinstance(exc, PoorQuality):
        body.update(face_detected=True, faces_detected=exc.faces_detected, reason=exc.reason, quality=exc.quality)
    elif isinstance(exc, PossibleDuplicate):
        disclosed = disclosure.possible_duplicates(exc.possible_duplicates, key, exc.disclosed_to)
        body.update(possible_duplicates=PossibleDuplicateSerializer(disclosed, many=True).data)
    elif isinstance(exc, PhotoMismatch):
        body.update(distance=exc.distance, threshold=exc.threshold)
    return body


def validation_messages(detail, field: str = ""):
    """DRF's nested {field: [messages]} as flat 'field: message' strings."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from validation_messages(value, "" if key == api_settings.NON_FIELD_ERRORS_KEY else key)
    elif isinstance(detail, list):
        for value in detail:
            yield from validation_messages(value, field)
    else:
        yield f"{field}: {detail}" if field else str(detail)


def exception_handler(exc, context):
    if isinstance(exc, FaceError):
        return Response(face_error_body(exc, getattr(context["request"], "auth", None)), status=status_of(exc))
    if isinstance(exc, NotFound):
        exc = exceptions.NotFound(exc.detail)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(
            "The form fields or JSON body exceed DATA_UPLOAD_MAX_MEMORY_SIZE "
            f"({settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes)."
        )
    elif isinstance(exc, SuspiciousOperation):  # too many fields or files in a form, and the like
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, exceptions.ValidationError):
        return Response({"detail": " ".join(validation_messages(exc.detail))}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None and (dependency := dependency_down(exc)):
        logger.warning("%s: the %s is down: %r", context["view"].__class__.__name__, dependency, exc)
        return Response(
            unavailable_body(dependency), status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if response is None:
        # A real fault: logged with its traceback, answered without one.
        logger.exception("Unhandled error in %s", context["view"].__class__.__name__, exc_info=exc)
        return Response({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return response
