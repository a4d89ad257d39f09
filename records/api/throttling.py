"""The API's rate limit: per API key, counted in the cache every gunicorn worker shares (CACHES in
settings), so a client cannot multiply its rate by the number of workers. Beyond the rate DRF
answers 429 with `Retry-After`; requests without a key (/health, the docs) are not counted."""

from rest_framework.throttling import SimpleRateThrottle

from records.models import ScopedAPIKey


class APIKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ScopedAPIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
