"""The request body limit: a body larger than `body_limit()` is refused with 413 before anything
reads it, for every URL (pages, admin, API), so a large body is neither parsed nor spooled to disk.

- With a Content-Length, that header alone answers.
- Without one (`Transfer-Encoding: chunked`), Django would read the body as empty. Where the server
  marks the stream as ending with the body (`wsgi.input_terminated`, as gunicorn does), it is read
  here into memory, at most one byte past the limit: beyond it the rest is never read (gunicorn
  closes the connection after the answer: no keep-alive, facesite/gunicorn.conf.py); within it the request goes on with that
  body and its real length, as if it had been sent with a Content-Length.

Uploads within the limit stay in memory too (`InMemoryUploadHandler`): photos of faces never touch
FILE_UPLOAD_TEMP_DIR, where a killed worker would leave them behind.
"""

import io
from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.core.handlers.wsgi import LimitedStream
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme

# Room in a multipart body for the boundaries, part headers and the text fields (metadata is at
# most 16 KB): a photo within MAX_UPLOAD_BYTES always fits, and decode_image checks its exact size.
MULTIPART_FORM_ALLOWANCE = 64 * 1024
READ_CHUNK = 64 * 1024


def body_limit() -> int:
    """MAX_REQUEST_BYTES when set, else one photo of MAX_UPLOAD_BYTES and its form. Read on every
    request, so a change of either setting applies at once."""
    return settings.MAX_REQUEST_BYTES or settings.MAX_UPLOAD_BYTES + MULTIPART_FORM_ALLOWANCE


class InMemoryUploadHandler(MemoryFileUploadHandler):
    """Django's memory handler for every upload, whatever its size: RequestBodyLimitMiddleware has
    already bounded the whole body, so memory use is bounded too, and nothing goes to a temporary
    file (Django's TemporaryFileUploadHandler would write anything above 2.5 MB to one)."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = body_limit()
        length = _declared_length(request)
        if length is not None and length > limit:
            return _too_large(request, f"The request body is {length:,} bytes", limit)
        if length is None and _body_ends_with_stream(request):
            body = _read_at_most(request.META["wsgi.input"], limit + 1)
            if len(body) > limit:
                return _too_large(request, f"The request body is more than {limit:,} bytes", limit)
            _replace_body(request, body)
        return self.get_response(request)


def _declared_length(request) -> int | None:
    try:
        return int(request.META["CONTENT_LENGTH"])
    except (KeyError, ValueError):
        return None


def _body_ends_with_stream(request) -> bool:
    # Only then can the stream be read to its end without waiting on a client that sends nothing
    # more (a development server hands over the socket itself).
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked and bool(request.META.get("wsgi.input_terminated"))


def _read_at_most(stream, size: int) -> bytes:
    parts, remaining = [], size
    while remaining > 0:
        part = stream.read(min(READ_CHUNK, remaining))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _replace_body(request, body: bytes) -> None:
    # WSGIRequest made its stream from the missing Content-Length, as empty; nothing has read it
    # yet (this middleware comes before any that reads the body). Django's own request factories
    # set `_stream` the same way.
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))


def _too_large(request, measured: str, limit: int):
    detail = (
        f"{measured}; the limit is {limit:,} bytes (images are limited to {settings.MAX_UPLOAD_BYTES:,} bytes)."
    )
    if _is_api(request):
        return JsonResponse({"detail": detail}, status=413)  # as the API's other 413s
    _as_later_middleware_would(request)
    return render(request, "413.html", {"detail": detail, "back": _same_site_referer(request)}, status=413)


def _as_later_middleware_would(request) -> None:
    """The session, the CSRF cookie and the user that the middleware after this one would have set
    (none of them reads the body): the 413 page shows the user's navigation like every page."""
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(
        request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    )
    CsrfViewMiddleware(lambda request: None).process_request(request)
    request.user = get_user(request)


def _same_site_referer(request) -> str | None:
    """The page the refused form was on, to go back to (a path of this site only)."""
    referer = urlsplit(request.META.get("HTTP_REFERER", ""))
    if referer.path.startswith("/") and url_has_allowed_host_and_scheme(
        request.META.get("HTTP_REFERER", ""), allowed_hosts={request.get_host()}
    ):
        return referer.path
    return None


def _is_api(request) -> bool:
    try:
        return resolve(request.path_info).namespace == "api"
    except Resolver404:
        return False
