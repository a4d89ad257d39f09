"""Middleware of the audit log: who is acting."""

from . import log as audit


class AuditActorMiddleware:
    """Makes the request being served the one the audit log names as acting (audit/log.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with audit.serving(request):
            return self.get_response(request)
