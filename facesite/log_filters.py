"""Filters of the logging configuration (settings.LOGGING)."""

import logging


class NoTracebackForForbidden(logging.Filter):
    """Django logs every 403 ("Forbidden (Permission denied): /path") with the PermissionDenied
    raised for it and its whole traceback: a refusal the site meant, not a fault. One line stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = record.exc_text = None
        return True
