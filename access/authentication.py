"""API keys for the REST API: `Authorization: Api-Key <key>` or `X-API-Key: <key>`.

Keys are `access.models.ScopedAPIKey` (djangorestframework-api-key's model with scopes, networks
and last use): stored hashed, created with `manage.py create_api_key`, revoked or given an expiry
date in the admin. The library ships a permission class; this module wraps the same key lookup in
an authentication class instead, so a missing, wrong, revoked or expired key is answered 401 with
a `WWW-Authenticate` header rather than a bare 403, and the key a request used is `request.auth`
for the scope checks (permissions.py), the throttles and the audit log. A key used from outside
its allowed networks is a 403: it is a valid credential, refused here.
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException, AuthenticationFailed, NotAuthenticated, PermissionDenied
from rest_framework_api_key.permissions import KeyParser

from .client_address import client_ip
from .models import ScopedAPIKey

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
            api_key = ScopedAPIKey.objects.get_from_key(key)
        except ScopedAPIKey.DoesNotExist:
            raise AuthenticationFailed("The API key is not valid, or it has been revoked.")
        if api_key.has_expired:
            raise AuthenticationFailed("The API key has expired.")
        address = client_ip(request)
        if not api_key.allows_address(address):
            raise PermissionDenied(f"This API key is not accepted from {address or 'an unknown address'}.")
        api_key.mark_used()
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return "Api-Key"


class OptionalAPIKeyAuthentication(APIKeyAuthentication):
    """For endpoints open to everyone that tell a key holder more (/health): a request without a
    usable key is simply anonymous, never refused."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except APIException:
            return None
