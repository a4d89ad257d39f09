"""Middleware of access: the per-user throttle of the pages and the admin, the anonymous rate on
Django views anyone may call (the login pages), and the second factor of staff on the pages."""

import math
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.urls import reverse
from rest_framework.throttling import UserRateThrottle

from .throttling import AnonymousRateThrottle


class UserThrottleMiddleware:
    """DRF's per-user throttle (rate "user") for everything a logged-in person requests, counted in
    the shared cache like the API's per-key throttle. The API itself authenticates by key, and is
    throttled per key by DRF (access/throttling.py)."""

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
