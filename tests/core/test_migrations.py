"""Migrations that move data, run on a database that has rows (a scratch database of their own)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from bench.serving import database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch_database_url(tmp_path):
    """An empty database on the server the tests use: a file for SQLite, a new PostgreSQL database."""
    from django.db import connection

    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    import psycopg

    server = database_url({**connection.settings_dict, "NAME": "postgres"})
    name = f"{connection.settings_dict['NAME']}_migration_{secrets.token_hex(3)}"
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db
def test_face_vectors_move_to_recognition_and_back_and_everyone_into_default(scratch_database_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": scratch_database_url, "DATA_DIR": str(tmp_path), "DEBUG": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "tests.core.face_vector_migration"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    states = json.loads(run.stdout.splitlines()[-1])
    assert len(states["before"]) == 6
    # Every photo keeps its vector id, generation and bytes (snapshots on disk stay valid), and
    # its person becomes the vector's owner.
    assert states["after"] == states["before"]
    assert [owner for (owner,) in states["owners"]] == [row[1] for row in states["before"]]
    assert states["back"] == states["before"]  # and migrating back restores the photos' columns
    # Collections (records 0010): people enrolled before them are in `default`, their vectors in its
    # partition, and the indexes on a new epoch, so no snapshot without partitions is used again.
    assert states["collections"] == ["default"]
    assert states["partitions"] == [states["default_partition"]]
    assert states["epoch"] == 1
