"""Upgrading to scoped keys: every key made before them keeps working, with every scope."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor



def scoped_key_migration() -> tuple[list, list]:
    """([the records migration before scoped keys], [the one that adds them]), whatever their numbers."""
    graph = MigrationExecutor(connection).loader.graph
    [node] = [node for node in graph.nodes if node[0] == "records" and node[1].endswith("_scopedapikey")]
    [parent] = [parent for parent in graph.node_map[node].parents if parent.key[0] == "records"]
    return [parent.key], [node]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_scopes(transactional_db):
    """The database as it was before scoped keys; migrated back to the latest state afterwards."""
    before, _ = scoped_key_migration()
    yield migrate(before)
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_existing_keys_become_all_scope_keys_with_the_same_secret(before_scopes):
    from rest_framework_api_key.models import APIKey  # the library's manager makes the secret

    old, secret = APIKey.objects.create_key(name="old client")
    revoked, _ = APIKey.objects.create_key(name="lost laptop", revoked=True)

    apps = migrate(scoped_key_migration()[1])

    keys = apps.get_model("records", "ScopedAPIKey").objects.order_by("name")
    assert [(k.name, k.scopes, k.revoked, k.created) for k in keys] == [
        ("lost laptop", ["all"], True, revoked.created),
        ("old client", ["all"], False, old.created),
    ]
    assert not APIKey.objects.exists()  # one row per credential, to revoke in one place
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    from records.models import ScopedAPIKey

    assert ScopedAPIKey.objects.get_from_key(secret).has_scope("admin")
