"""Fixtures of the production tests: gunicorn as production runs it (bench/serving.py) over the
test database, and the browser of the page tests."""

from pathlib import Path

import pytest
from django.db import connection

from bench.serving import Client, Server
# Chromium as the page tests launch it (Debian's, with their arguments).
from tests.pages.conftest import browser_context_args, browser_type_launch_args, playwright  # noqa: F401


def database_url() -> str:
    """The test database, as a URL another process can open."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def gunicorn(transactional_db, settings, tmp_path):
    """gunicorn(workers, **env) -> a started Server over the test database and this test's media
    folder (production settings, DEBUG off); stopped at the end of the test."""
    servers = []

    def start(workers: int, **env) -> Server:
        server = Server(workers, tmp_path / f"server-{len(servers)}", database_url(), Path(settings.MEDIA_ROOT), **env)
        server.data_dir.mkdir(parents=True)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api_client():
    """api_client(server) -> a Client of the API with a new key."""

    def make(server: Server, name: str = "tests") -> Client:
        from rest_framework_api_key.models import APIKey

        _, key = APIKey.objects.create_key(name=name)
        return Client(server.base_url, key)

    return make
