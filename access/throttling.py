"""The API's abuse limits, counted in the cache every gunicorn worker shares (CACHES in settings), so
a client cannot multiply them by the number of workers:

- a rate per API key (DRF; beyond it 429 with `Retry-After`);
- a rate per client address for anonymous requests (/health, /openapi.json, /docs, /redoc; the
  class also limits the login pages, through access.middleware.anonymous_throttled in facesite/urls.py);
- at most API_KEY_CONCURRENT_REQUESTS expensive requests (a face to find and embed: match, enrol,
  add a photo, verify) running at once per key (`ConcurrencyLimitMixin`).
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.template.defaultfilters import pluralize
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from .client_address import client_ip
from .models import ScopedAPIKey
from .permissions import operation_name


class APIKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ScopedAPIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}


class AnonymousRateThrottle(SimpleRateThrottle):
    """Requests with neither a key nor a login, per client address. Works on DRF requests and on
    plain Django requests alike."""

    scope = "anon"

    def get_ident(self, request):
        # DRF's own reads X-Forwarded-For by NUM_PROXIES; this service's rule is TRUSTED_PROXIES.
        return client_ip(request) or "unknown"

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        if isinstance(getattr(request, "auth", None), ScopedAPIKey) or (user is not None and user.is_authenticated):
            return None  # counted per key, or per user (access.middleware.UserThrottleMiddleware)
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class KeySlots:
    """API_KEY_CONCURRENT_REQUESTS slots per key, each a cache entry taken with `add` (atomic on
    Redis, and on the file cache through facesite.cache.LockingFileBasedCache). Each slot expires
    after API_KEY_SLOT_SECONDS, longer than gunicorn lets a request run, so a worker killed in the
    middle of a request cannot keep its slot: a plain counter would stay raised for good."""

    def __init__(self, key: ScopedAPIKey):
        self.names = [f"api-key-slot:{key.prefix}:{number}" for number in range(settings.API_KEY_CONCURRENT_REQUESTS)]

    def take(self) -> tuple[str, str] | None:
        token = uuid.uuid4().hex
        for name in self.names:
            if cache.add(name, token, timeout=settings.API_KEY_SLOT_SECONDS):
                return name, token
        return None

    @staticmethod
    def give_back(slot: tuple[str, str]) -> None:
        name, token = slot
        # Only while it is still ours: a request that outlived the slot's expiry (it cannot under
        # gunicorn's timeout) must not free a slot another request has taken since.
        if cache.get(name) == token:
            cache.delete(name)


class TooManyAtOnce(Throttled):
    def __init__(self):
        limit = settings.API_KEY_CONCURRENT_REQUESTS
        super().__init__(
            wait=1,
            detail=f"This API key already has {limit} photo-analysing request{pluralize(limit)} (match, enrol, add a "
            "photo, verify) running, the most it may have at once.",
        )


class ConcurrencyLimitMixin:
    """For a view: its `expensive_actions` (viewset actions, or HTTP methods of a plain APIView, as
    in `required_scopes`) hold a slot of the key (KeySlots) while they run; without a free slot,
    429 with Retry-After. Taken after authentication, scope and rate checks, given back however
    the request ends."""

    expensive_actions: frozenset[str] = frozenset()
    _slot = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if operation_name(self, request.method) in self.expensive_actions:
            self._slot = KeySlots(request.auth).take()
            if self._slot is None:
                raise TooManyAtOnce()

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._slot is not None:
                KeySlots.give_back(self._slot)
                self._slot = None
