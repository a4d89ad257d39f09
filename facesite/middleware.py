"""Middleware of the site as a whole: the Content-Security-Policy and no caching of personal data.
The apps' own are theirs: access/middleware.py (throttles, staff's second factor),
audit/middleware.py (the audit log's actor) and records/middleware.py (erasure retries)."""

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.utils.cache import add_never_cache_headers

# drf-spectacular's Swagger UI and ReDoc pages start with an inline script (and ReDoc searches in
# a worker it makes from a blob:). They show the schema only, never a person.
API_DOCS_VIEWS = {"api:docs", "api:redoc"}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's, with CONTENT_SECURITY_POLICY everywhere but loosened for the API docs pages."""

    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        match = request.resolver_match
        if not report_only and match is not None and match.view_name in API_DOCS_VIEWS:
            parts.update = {"script-src": [UNSAFE_INLINE], "worker-src": ["blob:"], **(parts.update or {})}
        return parts


class NoStoreMiddleware:
    """`Cache-Control: no-store` (with Django's never-cache headers) on every response of the
    service: the API, the photos and the pages carry names, faces and vectors, which no browser
    cache or shared proxy may keep. Static files are served before this (whitenoise) and cached."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response
