"""Template context of every page."""

from django.conf import settings

from .request_size import MULTIPART_FORM_ALLOWANCE, body_limit


def upload_limits(request) -> dict:
    """What static/js/site.js checks before sending photos (base.html puts it on <body>): the
    largest photo, and the largest request less the form's own fields, so nothing is sent that
    would only be refused."""
    return {"upload_limits": {"photo": settings.MAX_UPLOAD_BYTES, "photos": body_limit() - MULTIPART_FORM_ALLOWANCE}}
