"""Middleware of records: the retry of erasures that failed."""

import logging

from . import erasure

logger = logging.getLogger(__name__)


class PendingErasureMiddleware:
    """Retries the erasure of files whose delete committed but whose storage failed, at most every
    ERASURE_RETRY_SECONDS per process (records/erasure.py), after the request is answered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            erasure.retry_if_due()
        # A failing retry (database busy, storage down) is tried again later; it must never turn
        # the answer to this request into an error.
        except Exception:
            logger.exception("Retrying pending erasures failed")
        return response
