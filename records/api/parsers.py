"""The API's parsers: DRF's, with two answers they lack.

- An upload beyond MAX_UPLOAD_BYTES is refused from its Content-Length, before its body is read.
  (JSON and urlencoded bodies need no such guard: Django refuses those beyond
  DATA_UPLOAD_MAX_MEMORY_SIZE from their Content-Length, answered 413 by exceptions.py.)
- JSON nested too deeply for Python's parser is a 400, not a RecursionError and a 500.
"""

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .exceptions import RequestTooLarge

# Room in a multipart body for the boundaries, part headers and the text fields (metadata is at
# most 16 KB): a photo within MAX_UPLOAD_BYTES always fits, and decode_image checks its exact size.
MULTIPART_FORM_ALLOWANCE = 64 * 1024


class UploadParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            length = int(parser_context["request"].META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads a body of unknown length as empty
        if length > settings.MAX_UPLOAD_BYTES + MULTIPART_FORM_ALLOWANCE:
            raise RequestTooLarge(
                f"The request body is {length:,} bytes; images are limited to "
                f"{settings.MAX_UPLOAD_BYTES:,} bytes."
            )
        return super().parse(stream, media_type, parser_context)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.")
