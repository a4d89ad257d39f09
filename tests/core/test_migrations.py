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


def migrated(script: str, database_url: str, data_dir) -> dict:
    """What the migration script (a module of tests/core) printed, run on the scratch database."""
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "DEBUG": "1"}
    run = subprocess.run(
        [sys.executable, "-m", f"tests.core.{script}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.django_db
def test_face_vectors_move_to_recognition_and_back_and_everyone_into_default(scratch_database_url, tmp_path):
    states = migrated("face_vector_migration", scratch_database_url, tmp_path)
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


@pytest.mark.django_db
def test_keys_audit_and_jobs_move_to_their_apps_with_every_row_and_permission(scratch_database_url, tmp_path):
    """records 0014: a database of the layout before it, with a row of every model, keeps them all
    in the new apps (access, audit, jobs), and the groups and users keep their permissions."""
    states = migrated("apps_split_migration", scratch_database_url, tmp_path)
    before, after = states["before"], states["after"]
    assert {name: len(table) for name, table in before["tables"].items()} == {
        "ScopedAPIKey": 1, "AuditEvent": 3, "Job": 2, "Person": 1, "FaceImage": 1, "PendingErasure": 1,
    }
    assert after["tables"] == before["tables"]  # every column of every row
    assert before["permissions"]["Auditors"] == ["records.view_auditevent", "records.view_job", "records.view_person"]
    moved = {"records.view_auditevent": "audit.view_auditevent", "records.view_job": "jobs.view_job"} | {
        f"records.{action}_scopedapikey": f"access.{action}_scopedapikey" for action in ("add", "change", "delete", "view")
    } | {"records.delete_job": "jobs.delete_job"}
    # The latest migrations also give Managers the Inbox (inbox 0002).
    granted = {"Managers": ["inbox.review_unknown"]}
    assert after["permissions"] == {
        who: sorted([*(moved.get(permission, permission) for permission in permissions), *granted.get(who, [])])
        for who, permissions in before["permissions"].items()
    }
    assert after["history"] == ["access", "scopedapikey", "door-1"]  # the admin's history follows the key
    assert states["checks"] == {
        "user_may": ["access.delete_scopedapikey", "jobs.delete_job"],
        "key_found_by_secret": "door-1",
        "tables": ["access_scopedapikey", "audit_auditevent", "jobs_job", "records_collection", "records_faceimage",
                   "records_pendingerasure", "records_person", "records_sighting"],
        "content_types": ["access.scopedapikey", "audit.auditevent", "jobs.job"],
        "new_event_id": 4,  # ids go on after the old rows (PostgreSQL's sequence kept with the table)
        "second_active_reembed": "refused",  # the constraint kept with the table
    }
    assert states["back"] == before  # and migrating back gives records its tables and permissions again


@pytest.mark.django_db
def test_old_audit_refusals_lose_the_names_they_held(scratch_database_url, tmp_path):
    """audit 0002: refusals audited before 0390afb by their text naming people keep their reason
    in the words the service uses now; other events are left as they were."""
    states = migrated("audit_scrub_migration", scratch_database_url, tmp_path)
    measured = "(distance 0.91 to their nearest photo; the same person is within 0.7522). Nothing was stored."
    missing = "has no photo embedded by the active model (ArcFace-MBF:scrfd:arcface112-v3) to compare with."

    assert [detail["reason"] for detail in states["after"][:4]] == [
        "This face looks like someone already enrolled. Nothing was stored.",
        "This face looks like someone else more than this record's person. Nothing was stored.",
        f"This face does not look like the record's person {measured}",
        f"Record 'p-3' {missing}",
    ]
    assert states["after"][4:] == states["before"][4:]  # already naming no one, or no refusal
    for name in ("Jean", "Neil", "Tony", "Serena", "Venus", "Colin"):
        assert name not in json.dumps(states["after"])
