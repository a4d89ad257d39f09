"""The API's JSON parser: DRF's, with an answer it lacks: JSON nested too deeply for Python's
parser is a 400, not a RecursionError and a 500.

A body above the request limit never reaches a parser: facesite/request_size.py refuses it
unread. JSON and urlencoded bodies within it are refused beyond DATA_UPLOAD_MAX_MEMORY_SIZE by
Django, answered 413 by exceptions.py.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.")
