"""The API's abuse limits, counted in the cache every gunicorn worker shares (CACHES in settings), so
a client cannot multiply them by the number of workers:

- a rate per API key (DRF; beyond it 429 with `Retry-After`);
- a rate per client address for anonymous requests (/health, /openapi.json, /docs, /redoc; the
  class also limits the login pages, through access.middleware.anonymous_throttled in facesite/urls.py);
- at most API_KEY_CONCURRENT_REQUESTS expensive requests (a face to find and embed: match, enrol,
  add a photo, verify) running at once per key (`ConcurrencyLimitMixin`); the next ones wait in
  the key's line (`KeySlots.wait_for_one`) before a 429.
"""

import math
import time
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
    after API_KEY_SLOT_SECONDS, so a worker killed in the middle of a request cannot keep its slot
    for good: a plain counter would stay raised.

    Requests beyond the slots wait in the key's line, in the shared cache too, so it is one line
    for every worker and host: a ticket from a counter (`incr`, atomic on both caches), and per
    waiting ticket an entry that expires soon after its wait could have ended, so a waiter killed
    with its worker leaves the line by itself. Only the first live ticket may take a slot that
    frees; the others poll every LINE_POLL_SECONDS. `head` is a ticket below which every ticket has
    left (any write of it was true when written, as a ticket never comes back), so a scan for the
    live tickets ahead reads only the few since."""

    LINE_POLL_SECONDS = 0.02
    LINE_SCAN = 256  # the longest stretch of tickets read per poll: far above any line's length

    def __init__(self, key: ScopedAPIKey):
        self.names = [f"api-key-slot:{key.prefix}:{number}" for number in range(settings.API_KEY_CONCURRENT_REQUESTS)]
        self.line = f"api-key-line:{key.prefix}"

    def take(self) -> tuple[str, str] | None:
        token = uuid.uuid4().hex
        for name in self.names:
            if cache.add(name, token, timeout=settings.API_KEY_SLOT_SECONDS):
                return name, token
        return None

    def wait_for_one(self) -> tuple[str, str] | None:
        """A slot: at once if no request of the key is waiting and one is free, else after the
        key's requests that came first, within API_KEY_WAIT_SECONDS; None once that has passed
        or when API_KEY_WAITING_REQUESTS requests are already in line."""
        deadline = time.monotonic() + settings.API_KEY_WAIT_SECONDS
        if not self._waiting_before((cache.get(f"{self.line}:tail") or 0) + 1):
            slot = self.take()
            if slot is not None or settings.API_KEY_WAITING_REQUESTS <= 0:
                return slot
        ticket = self._join()
        try:
            if len(self._waiting_before(ticket)) >= settings.API_KEY_WAITING_REQUESTS:
                return None  # the line is full
            while True:
                if not self._waiting_before(ticket):
                    slot = self.take()
                    if slot is not None:
                        return slot
                if time.monotonic() >= deadline:
                    return None
                time.sleep(self.LINE_POLL_SECONDS)
        finally:
            cache.delete(f"{self.line}:waiting:{ticket}")

    def _join(self) -> int:
        cache.add(f"{self.line}:tail", 0, timeout=None)
        ticket = cache.incr(f"{self.line}:tail")
        cache.set(f"{self.line}:waiting:{ticket}", 1, timeout=math.ceil(settings.API_KEY_WAIT_SECONDS) + 2)
        return ticket

    def _waiting_before(self, ticket: int) -> list[int]:
        """The tickets before `ticket` still waiting, first first."""
        head = max(cache.get(f"{self.line}:head") or 1, ticket - self.LINE_SCAN)
        if head >= ticket:
            return []
        entries = {f"{self.line}:waiting:{number}": number for number in range(head, ticket)}
        waiting = sorted(entries[name] for name in cache.get_many(entries))
        first = waiting[0] if waiting else ticket
        if first > head:
            cache.set(f"{self.line}:head", first, timeout=None)
        return waiting

    @staticmethod
    def give_back(slot: tuple[str, str]) -> None:
        name, token = slot
        # Only while it is still ours: a request that outlived the slot's expiry must not free a
        # slot another request has taken since.
        if cache.get(name) == token:
            cache.delete(name)


class TooManyAtOnce(Throttled):
    def __init__(self):
        limit = settings.API_KEY_CONCURRENT_REQUESTS
        super().__init__(
            wait=1,
            detail=f"This API key already has {limit} photo-analysing request{pluralize(limit)} (match, enrol, add a "
            f"photo, verify) running, the most it may have at once, and this one found no free slot within "
            f"{settings.API_KEY_WAIT_SECONDS:g} s in the key's line (at most {settings.API_KEY_WAITING_REQUESTS} wait).",
        )


class ConcurrencyLimitMixin:
    """For a view: its `expensive_actions` (viewset actions, or HTTP methods of a plain APIView, as
    in `required_scopes`) hold a slot of the key (KeySlots) while they run; without one after
    waiting in the key's line, 429 with Retry-After. Taken after authentication, scope and rate
    checks, given back however the request ends."""

    expensive_actions: frozenset[str] = frozenset()
    _slot = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if operation_name(self, request.method) in self.expensive_actions:
            self._slot = KeySlots(request.auth).wait_for_one()
            if self._slot is None:
                raise TooManyAtOnce()

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            if self._slot is not None:
                KeySlots.give_back(self._slot)
                self._slot = None
