"""API keys for tests: every test that needs one makes it here, with the scopes it means to have."""

from django.apps import apps
from rest_framework.test import APIClient

from access.models import ScopedAPIKey
from access.scopes import ALL
from records.models import Collection


def new_key(name: str = "tests", scopes=(ALL,), collections=(), **fields) -> str:
    """A new ScopedAPIKey (every scope unless told; limited to the existing `collections` named), as
    the secret a client sends."""
    limits = [Collection.objects.get(name=collection).pk for collection in collections]
    return ScopedAPIKey.objects.create_key(name=name, scopes=list(scopes), collections=limits, **fields)[1]


def key_client(name: str = "tests", scopes=(ALL,), **fields) -> APIClient:
    """A test client of the API sending a new key in X-API-Key."""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=new_key(name, scopes, **fields))
    return client


class RegistryBeforeTheMove:
    """The app registry as records' migrations before 0014 know it, the key model in records: their
    data steps run on the current schema with it."""

    def get_model(self, app_label, model_name):
        if (app_label, model_name.lower()) == ("records", "scopedapikey"):
            return ScopedAPIKey
        return apps.get_model(app_label, model_name)
