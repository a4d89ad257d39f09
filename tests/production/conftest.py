"""Fixtures of the production tests: gunicorn as production runs it (bench/serving.py) over the
test database."""

from pathlib import Path

import pytest
from django.db import connection

from bench.serving import Client, Server, database_url
from tests.keys import new_key


@pytest.fixture
def gunicorn(transactional_db, settings, tmp_path):
    """gunicorn(workers, **env) -> a started Server over the test database and this test's media
    folder (production settings, DEBUG off); stopped at the end of the test."""
    servers = []

    def start(workers: int, **env) -> Server:
        data_dir = tmp_path / f"server-{len(servers)}"
        server = Server(workers, data_dir, database_url(connection.settings_dict), Path(settings.MEDIA_ROOT), **env)
        server.data_dir.mkdir(parents=True)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api_client():
    """api_client(server, scopes=["all"]) -> a Client of the API with a new key."""

    def make(server: Server, name: str = "tests", scopes=("all",), **fields) -> Client:
        return Client(server.base_url, new_key(name, scopes, **fields))

    return make
