"""API keys for the REST API: `Authorization: Api-Key <key>` or `X-API-Key: <key>`.

Keys are djangorestframework-api-key's: stored hashed, created with `manage.py create_api_key`,
revoked or given an expiry date in the admin. The library ships a permission class; this module
wraps the same key lookup in an authentication class instead, so a missing or wrong key is
answered 401 with a `WWW-Authenticate` header rather than a bare 403, and the key a request used
is `request.auth` for whatever wants to log it.
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser

KEY_HEADER = "X-API-Key"
HOW_TO_SEND_A_KEY = f"Send an API key as 'Authorization: Api-Key <key>' or '{KEY_HEADER}: <key>'."


class AuthorizationOrHeaderKeyParser(KeyParser):
    """The library's parser reads either `Authorization` or one custom header; accept both."""

    def get(self, request):
        return self.get_from_authorization(request) or self.get_from_header(
            request, "HTTP_" + KEY_HEADER.upper().replace("-", "_")
        )


class APIKeyAuthentication(BaseAuthentication):
    key_parser = AuthorizationOrHeaderKeyParser()

    def authenticate(self, request):
        key = self.key_parser.get(request)
        if not key:
            # No anonymous access to biometric data: say how to authenticate instead of DRF's
            # generic "credentials were not provided".
            raise NotAuthenticated(f"An API key is required. {HOW_TO_SEND_A_KEY}")
        try:
            api_key = APIKey.objects.get_from_key(key)
        except APIKey.DoesNotExist:
            raise AuthenticationFailed("The API key is not valid, or it has been revoked.")
        if api_key.has_expired:
            raise AuthenticationFailed("The API key has expired.")
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return "Api-Key"


class HasAPIKey(BasePermission):
    """Granted to requests that `APIKeyAuthentication` accepted."""

    message = f"This endpoint needs an API key. {HOW_TO_SEND_A_KEY}"

    def has_permission(self, request, view):
        return isinstance(request.auth, APIKey)
