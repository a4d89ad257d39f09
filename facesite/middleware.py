"""Middleware of the production footing: the Content-Security-Policy, the per-user throttle of the
pages and the admin, who is acting, for the audit log, no caching of personal data, the retry
of erasures that failed, and the second factor of staff on the pages."""

import logging
import math
from functools import wraps

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from rest_framework.throttling import UserRateThrottle

from records import audit, erasure
from records.api.throttling import AnonymousRateThrottle

logger = logging.getLogger(__name__)

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


class UserThrottleMiddleware:
    """DRF's per-user throttle (rate "user") for everything a logged-in person requests, counted in
    the shared cache like the API's per-key throttle. The API itself authenticates by key, and is
    throttled per key by DRF (records/api/throttling.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            throttle = UserRateThrottle()
            if not throttle.allow_request(request, None):
                return too_many_requests(throttle.wait())
        return self.get_response(request)


def anonymous_throttled(view):
    """For a Django view anyone may call, such as a login page: the API's anonymous rate
    (ANON_THROTTLE_RATE) per client address, counted with /health and the API docs."""

    @wraps(view)
    def throttled_view(request, *args, **kwargs):
        throttle = AnonymousRateThrottle()
        if not throttle.allow_request(request, None):
            return too_many_requests(throttle.wait())
        return view(request, *args, **kwargs)

    return throttled_view


def too_many_requests(wait: float | None) -> HttpResponse:
    seconds = max(1, math.ceil(wait or 1))
    response = HttpResponse(
        f"Too many requests: try again in {seconds} seconds.\n", status=429, content_type="text/plain"
    )
    response["Retry-After"] = str(seconds)
    return response


class StaffTOTPMiddleware:
    """With STAFF_TOTP_REQUIRED, staff reach the pages (records/views.py: people, photos, exports,
    deletes) only in a session verified with their TOTP code, as the admin asks (facesite/admin.py):
    one logged in with a password alone is sent to the admin's login, which asks for the code and
    brings them back. After django-otp's OTPMiddleware, which tells whether the session is verified."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if (
            settings.STAFF_TOTP_REQUIRED
            and view_func.__module__ == PAGES_MODULE
            and user.is_authenticated
            and user.is_staff
            and not user.is_verified()
        ):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return None


PAGES_MODULE = "records.views"


class AuditActorMiddleware:
    """Makes the request being served the one the audit log names as acting (records/audit.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with audit.serving(request):
            return self.get_response(request)


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
