"""Upgrading to scoped keys: every key made before them keeps working, with every scope.

The migration's data step runs here on the current schema (the library's table is still there):
migrating the test database back and forth instead made a later transactional test (the admin
history of tests/production/test_erasure.py) fail with a foreign key error on SQLite."""

import importlib

import pytest
from rest_framework_api_key.models import APIKey

from access.models import ScopedAPIKey
from tests.keys import RegistryBeforeTheMove

pytestmark = pytest.mark.django_db

migration = importlib.import_module("records.migrations.0006_scopedapikey")


def test_existing_keys_become_all_scope_keys_with_the_same_secret():
    old, secret = APIKey.objects.create_key(name="old client")
    revoked, _ = APIKey.objects.create_key(name="lost laptop", revoked=True)

    migration.keys_become_scoped_with_all_scopes(RegistryBeforeTheMove(), None)

    keys = ScopedAPIKey.objects.order_by("name")
    assert [(k.name, k.scopes, k.revoked, k.created) for k in keys] == [
        ("lost laptop", ["all"], True, revoked.created),
        ("old client", ["all"], False, old.created),
    ]
    assert not APIKey.objects.exists()  # one row per credential, to revoke in one place
    assert ScopedAPIKey.objects.get_from_key(secret).has_scope("admin")


def test_a_downgrade_gives_back_only_the_keys_that_could_do_everything():
    ScopedAPIKey.objects.create_key(name="old client", scopes=["all"])
    ScopedAPIKey.objects.create_key(name="door-1", scopes=["match"])

    migration.all_scope_keys_go_back(RegistryBeforeTheMove(), None)

    assert list(APIKey.objects.values_list("name", flat=True)) == ["old client"]
