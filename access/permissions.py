"""Which scope each API operation needs, and the check (the REST framework's default permission).

Every view of the API declares `required_scopes`: viewset action (or, on a plain APIView, HTTP
method in lower case) -> scope of access/scopes.py. A new endpoint is one more entry there,
e.g. `"export": READ`; an operation without one is refused as a configuration error (and
/openapi.json cannot be generated), so nothing is ever served to "any key" by omission. The same
mapping puts the scope into the OpenAPI schema (schema.ScopedAutoSchema).
"""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from .authentication import HOW_TO_SEND_A_KEY
from .models import ScopedAPIKey


# OPTIONS describes an endpoint (DRF's metadata: its fields) and reads no data: any valid key may.
DESCRIBE = {"options", "metadata"}


def operation_name(view, method: str) -> str:
    """The viewset action of the request ("metadata" for OPTIONS), or its HTTP method on a plain
    APIView."""
    # Viewsets (and drf-spectacular's instances of them) have `action`; plain APIViews do not.
    # (Duck-typed: importing rest_framework.viewsets here would be circular, DRF's settings import
    # this module.)
    if getattr(view, "action", None) is not None:
        return view.action
    return method.lower()


def serves(view, method: str) -> bool:
    """Whether the request's method reaches a handler: on a viewset, an action routed for it; on a
    plain APIView, a method of that name."""
    if getattr(view, "action", None) is not None:
        return True
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)


def required_scope(view, method: str) -> str | None:
    name = operation_name(view, method)
    if name in DESCRIBE:
        return None
    try:
        return view.required_scopes[name]
    except (AttributeError, KeyError):
        if not serves(view, method):
            return None  # DRF answers 405 after the permission check: no data read, nothing to name
        raise ImproperlyConfigured(
            f"{type(view).__name__}.required_scopes names no scope for '{name}' (access/permissions.py)."
        ) from None


class MissingScope(PermissionDenied):
    """403 whose body names the scope, for people (`detail`) and for programs (`required_scope`)."""

    def __init__(self, scope: str, method: str, path: str):
        super().__init__(
            {
                "detail": f"This API key lacks the '{scope}' scope, which {method} {path} needs.",
                "required_scope": scope,
            }
        )


class HasRequiredScope(BasePermission):
    """Granted to a request whose key (APIKeyAuthentication) has the scope its operation needs."""

    message = f"This endpoint needs an API key. {HOW_TO_SEND_A_KEY}"

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ScopedAPIKey):
            return False
        scope = required_scope(view, request.method)
        if scope is not None and not key.has_scope(scope):
            raise MissingScope(scope, request.method, request.path)
        return True
