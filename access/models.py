from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from . import scopes as scope_names
from .client_address import address_in, parse_network


def validate_scopes(value):
    if not isinstance(value, list) or not value:
        raise ValidationError("Give at least one scope.")
    unknown = scope_names.unknown_scopes(value)
    if unknown:
        raise ValidationError(f"Not a scope: {', '.join(map(str, unknown))}.")


def validate_networks(value):
    if not isinstance(value, list):
        raise ValidationError("A list of networks such as 10.0.0.0/8.")
    for network in value:
        try:
            parse_network(str(network))
        except ValueError as exc:
            raise ValidationError(str(exc))


def validate_collection_names(value):
    """What keys held before migration 0013 (migration 0010 names it)."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError("A list of collection names.")


def validate_collection_ids(value):
    if not isinstance(value, list) or not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in value):
        raise ValidationError("A list of collection ids.")


class ScopedAPIKey(AbstractAPIKey):
    """An API key (djangorestframework-api-key: only a hash is stored) that may do what its scopes
    allow (access/scopes.py), until its expiry date, from its allowed networks."""

    # How stale last_used_at may be. Writing it on every request would make every API call a
    # database write: on SQLite each would queue for the single write lock behind enrolments, on
    # PostgreSQL each leaves a dead row version to vacuum. "Used in the last minute" answers what
    # an administrator asks of it (is this key still in use? since when not?).
    LAST_USED_RESOLUTION = timedelta(minutes=1)

    scopes = models.JSONField(
        default=list,
        validators=[validate_scopes],
        help_text="What the key may do: match, read, enrol, manage, admin, or all.",
    )
    allowed_networks = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_networks],
        help_text="Client networks the key is accepted from, e.g. 10.1.2.0/24; empty: anywhere.",
    )
    # By id, not by name: a collection deleted and made again under the same name is another one,
    # which a key limited to the first must not see.
    collections = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_collection_ids],
        help_text="Ids of the collections the key may match, read and enrol in; empty: all of them.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return scope_names.ALL in self.scopes or scope in self.scopes

    def allows_address(self, address: str | None) -> bool:
        return not self.allowed_networks or address_in(address, self.allowed_networks)

    def mark_used(self) -> None:
        """Sets last_used_at, at most once per LAST_USED_RESOLUTION (see there)."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < self.LAST_USED_RESOLUTION:
            return
        # Conditional, so workers authenticating the same key at the same moment write it once.
        stale = models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=now - self.LAST_USED_RESOLUTION)
        ScopedAPIKey.objects.filter(stale, pk=self.pk).update(last_used_at=now)
        self.last_used_at = now
