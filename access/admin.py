"""API keys and logins in the admin: keys made, given scopes, networks, collections and an
expiry, and revoked; django-axes' login attempts. `ReadOnlyAdmin` is who may edit what the
system writes itself (the audit log, jobs, index bookkeeping): no one."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from axes import admin as axes_admin
from axes.models import AccessAttempt
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from . import scopes
from .client_address import parse_network
from .models import ScopedAPIKey


class ReadOnlyAdmin:
    """For rows the system writes itself (index bookkeeping, the audit log, jobs): shown, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NetworksField(forms.CharField):
    """allowed_networks as text: networks separated by commas or new lines."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        networks = []
        for part in (super().to_python(value) or "").replace("\n", ",").split(","):
            if part.strip():
                try:
                    networks.append(parse_network(part))
                except ValueError as exc:
                    raise forms.ValidationError(str(exc))
        return networks


# A key may be limited to collections of people, which are records': records gives their
# (id, name) pairs as it loads (records/admin.py), so access imports nothing of records.
_collection_choices = list


def choose_collections_from(choices) -> None:
    """`choices()`: the (id as text, name) of every collection a key may be limited to."""
    global _collection_choices
    _collection_choices = choices


class ScopedAPIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=scopes.CHOICES, widget=forms.CheckboxSelectMultiple)
    collections = forms.MultipleChoiceField(
        choices=lambda: _collection_choices(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The collections the key may match, read and enrol in; none ticked: all of them.",
    )
    allowed_networks = NetworksField(
        required=False, help_text="e.g. 10.1.2.0/24, 192.168.0.7; empty: accepted from anywhere."
    )

    class Meta:
        model = ScopedAPIKey
        fields = ["name", "scopes", "allowed_networks", "collections", "expiry_date", "revoked"]

    def clean_scopes(self):
        chosen = self.cleaned_data["scopes"]
        return [scopes.ALL] if scopes.ALL in chosen else chosen

    def clean_collections(self):
        return [int(pk) for pk in self.cleaned_data["collections"]]  # kept by id (ScopedAPIKey.collections)


# The library registers its own APIKey admin; every key is a ScopedAPIKey now (records'
# migration 0006 moved the old ones), so that page would only list an empty table: this one replaces it.
admin.site.unregister(APIKey)


@admin.register(ScopedAPIKey)
class ScopedAPIKeyAdmin(APIKeyModelAdmin):
    """The library's key admin (the key shown once on creation, revocation that cannot be undone),
    with scopes, networks and when the key was last used."""

    form = ScopedAPIKeyForm
    list_display = [
        "prefix", "name", "scope_list", "network_list", "created", "expiry_date", "_has_expired", "revoked",
        "last_used_at",
    ]
    list_filter = ["revoked", "created", "last_used_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = (*super().get_readonly_fields(request, obj), "last_used_at")
        if obj is not None and obj.revoked:
            fields += ("scopes", "allowed_networks", "collections")
        return fields

    class Media:
        js = ["js/copy.js"]

    def save_model(self, request, obj, form=None, change=False):
        """The library's, with the new key's secret on a line of its own and a button that copies it
        (not inside a sentence ending in a full stop, where a copy takes the stop too)."""
        if change:
            return super().save_model(request, obj, form, change)
        secret = self.model.objects.assign_key(obj)
        obj.save()
        messages.warning(request, format_html(
            'The API key for {} (shown this once: store it somewhere safe now) '
            '<code class="api-key-secret" id="api-key-secret">{}</code> '
            '<button type="button" class="button" data-copy="#api-key-secret">Copy</button>',
            obj.name, secret,
        ))

    @admin.display(description="Scopes")
    def scope_list(self, key):
        return ", ".join(key.scopes)

    @admin.display(description="Allowed networks")
    def network_list(self, key):
        return ", ".join(key.allowed_networks) or "anywhere"


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' list of login attempts, its "Clean up expired attempts" action mended: the
    library reads the time of the login attempt from the request, which only a login request
    carries, so from the admin the action failed with a 500."""

    @admin.action(description=axes_admin.AccessAttemptAdmin.cleanup_expired_attempts.short_description)
    def cleanup_expired_attempts(self, request, queryset):
        request.axes_attempt_time = timezone.now()
        return super().cleanup_expired_attempts(request, queryset)


admin.site.unregister(AccessAttempt)  # axes comes before access in INSTALLED_APPS: registered already
admin.site.register(AccessAttempt, AccessAttemptAdmin)
