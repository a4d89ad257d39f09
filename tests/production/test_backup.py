"""`manage.py backup` and `manage.py restore` (records/backup.py): a deployment served by gunicorn
over the test database is backed up, restored onto an empty host (a new DATA_DIR and an empty
database of the same engine, its secret key only in the backup), and serves everything back:
every person, photo and audit event, the same matches for the same real photos."""

import json
import secrets
from pathlib import Path

import pytest
from django.db import connection

from bench.serving import Client, Database, Server, database_url

ENROLLED = ["Ariel_Sharon", "Colin_Powell", "George_W_Bush", "Jean_Chretien", "John_Ashcroft", "Tony_Blair"]
STRANGER = "Hugo_Chavez"
ROWS = (
    "import json; from audit.models import AuditEvent; from records.models import FaceImage, Person; "
    "print(json.dumps({'people': sorted((str(p.pk), p.name) for p in Person.objects.all()), "
    "'photos': sorted((str(i.pk), str(i.person_id), i.image.name, i.sha256) for i in FaceImage.objects.all()), "
    "'audit_events': sorted((e.pk, e.action, e.target, e.status) for e in AuditEvent.objects.all())}))"
)


def rows(server: Server) -> dict:
    return json.loads(server.manage("shell", "-c", ROWS).stdout.strip().splitlines()[-1])


def answers(client: Client, probes: list[bytes]) -> list:
    """Each probe's ranked candidates as (name, distance to 4 decimals)."""
    found = []
    for probe in probes:
        status, body, _, _ = client.match(probe)
        assert status == 200, body
        found.append([(match["name"], round(match["distance"], 4)) for match in body["top_matches"]])
    return found


@pytest.fixture
def empty_database(tmp_path):
    """DATABASE_URL of an empty database of the test database's engine (no tables)."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'db.sqlite3'}"
        return
    database = Database("restore").create()
    yield database.url
    database.drop()


def test_a_backup_restored_onto_an_empty_host_answers_as_the_original(
    transactional_db, settings, tmp_path, lfw_people, empty_database, served_vector_store
):
    # The original keeps its secret key in DATA_DIR, as scripts/serve writes it.
    source = Server(1, tmp_path / "source", database_url(connection.settings_dict), Path(settings.MEDIA_ROOT), **served_vector_store)
    source.data_dir.mkdir()
    key = secrets.token_urlsafe(50)
    (source.data_dir / "secret_key").write_text(key + "\n")
    del source.env["SECRET_KEY"]
    source.migrate(static=False)
    [api_key] = source.create_api_keys(["backup-test"])
    source.start()
    client = Client(source.base_url, api_key)
    try:
        for name in ENROLLED:
            status, body, _, _ = client.enrol(name, lfw_people[name][0].read_bytes())
            assert status == 201, body
        status, body, _, _ = client.call("POST", f"/records/{body['record']['id']}/images", files={"image": ("p.jpg", lfw_people[name][1].read_bytes())})
        assert status == 201, body
        status, body, _, _ = client.enrol(STRANGER, lfw_people[STRANGER][0].read_bytes())
        assert client.delete(body["record"]["id"])[0] == 200
        probes = [lfw_people[name][2].read_bytes() for name in ENROLLED] + [lfw_people[STRANGER][1].read_bytes()]
        before = answers(client, probes)
    finally:
        source.stop()
    assert [candidates[0][0] for candidates in before[:-1]] == ENROLLED
    original = rows(source)
    backup_folder = tmp_path / "backup"
    done = source.manage("backup", str(backup_folder))
    assert f"backed up {len(ENROLLED)} people, {len(ENROLLED) + 1} photos" in done.stdout
    manifest = json.loads((backup_folder / "manifest.json").read_text())
    assert manifest["secret_key"].startswith("secret_key") and (backup_folder / "secret_key").stat().st_mode & 0o077 == 0
    assert list(manifest["model_keys"]["stored_vectors"].values()) == [len(ENROLLED) + 1]
    assert not any(path.suffix in (".index", ".faiss") for path in backup_folder.rglob("*"))

    # A new host: another DATA_DIR and media folder, an empty database, nothing of the vectors.
    restored = Server(1, tmp_path / "restored", empty_database, **served_vector_store)
    restored.data_dir.mkdir(exist_ok=True)
    if "MILVUS_URI" in served_vector_store:  # a new host's Milvus starts empty: collections of its own
        restored.env["MILVUS_COLLECTION_PREFIX"] += "_restored"
    # The key the backup holds, to start the command; restore puts its file in DATA_DIR.
    restored.env["SECRET_KEY"] = (backup_folder / "secret_key").read_text().strip()
    done = restored.manage("restore", str(backup_folder))
    assert f"restored {len(ENROLLED)} people, {len(ENROLLED) + 1} photos" in done.stdout
    assert (restored.data_dir / "secret_key").read_text().strip() == key
    del restored.env["SECRET_KEY"]  # from here on the restored key file, as after a restart
    assert rows(restored) == original
    assert restored.manage("check_integrity").returncode == 0
    restored.manage("collectstatic", "--no-input", "-v0")
    restored.start()
    try:
        assert answers(Client(restored.base_url, api_key), probes) == before
    finally:
        restored.stop()

    # Restoring twice onto the same host is refused, and leaves what is there.
    again = restored.manage("restore", str(backup_folder), check=False)
    assert again.returncode != 0 and "restore needs an empty one" in again.stderr
    assert len(rows(restored)["people"]) == len(ENROLLED)


def test_backup_refuses_a_folder_that_is_not_empty(tmp_path):
    from django.core.management import CommandError, call_command

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text("{}")
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup", str(tmp_path / "old"))


def test_a_photo_erased_while_the_backup_runs_fails_it_rather_than_leave_its_row_without_it(
    transactional_db, photo, tmp_path, monkeypatch
):
    from django.core.files.storage import default_storage

    from records import backup as backups
    from records.usecases.enrolment import enrol

    image = enrol("George W Bush", photo("George_W_Bush", 0)).image
    copy_database = backups._database_copied

    def then_erased(folder):
        copied = copy_database(folder)
        default_storage.delete(image.image.name)  # a delete that committed after the copy's instant
        return copied

    monkeypatch.setattr(backups, "_database_copied", then_erased)
    with pytest.raises(backups.BackupError, match="erased while the backup ran"):
        backups.backup(tmp_path / "backup")
