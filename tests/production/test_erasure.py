"""Erasure: deleting a person removes their rows, every stored photo, every derived file and every
vector, and nothing of them is left in the media folder or returned by any index."""

from pathlib import Path

import numpy as np
import pytest
from easy_thumbnails.models import Source, Thumbnail
from rest_framework.test import APIClient

from audit.models import AuditEvent
from recognition.vectors import indexes as galleries
from recognition.models import FaceVector
from recognition.vectors.indexes import get_vector_index
from records.models import FaceImage, Person
from tests.keys import key_client
from tests.production.open_files import open_temporary_files
from tests.production.probes import as_kept

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(face_service) -> APIClient:
    return key_client("erasure")


def files_under(folder) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in Path(folder).rglob("*") if path.is_file()}


def enrol_with_photos(api, name: str, photos: list[bytes]) -> str:
    person_id = api.post("/records", {"name": name, "image": upload(photos[0])}).json()["record"]["id"]
    for data in photos[1:]:
        assert api.post(f"/records/{person_id}/images", {"image": upload(data)}).status_code == 201
    return person_id


def stored_photos(person_id) -> list[bytes]:
    """Their photos as stored (re-encoded without metadata: not the uploaded bytes)."""
    return [Path(image.image.path).read_bytes() for image in FaceImage.objects.filter(person_id=person_id)]


def upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("photo.jpg", data)


def test_deleting_a_person_leaves_nothing_of_them(api, client, member, photo, settings):
    theirs = [photo("Colin_Powell", n) for n in range(3)]
    erased = enrol_with_photos(api, "Colin Powell", theirs)
    kept = enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    vectors = [bytes(image.face_vector.embedding) for image in FaceImage.objects.filter(person_id=erased)]
    # Their face thumbnails are made on the first request and stored (records/thumbnails.py).
    client.force_login(member("Viewers"))
    for image in FaceImage.objects.filter(person_id=erased):
        assert client.get(f"/photos/{image.pk}/face.jpg").status_code == 200
    stored_theirs, [stored_kept] = stored_photos(erased), stored_photos(kept)
    thumbnail_files = files_under(Path(settings.MEDIA_ROOT, settings.THUMBNAIL_BASEDIR))
    assert len(thumbnail_files) == 3 and Thumbnail.objects.count() == 3
    assert sorted(files_under(settings.MEDIA_ROOT).values()) == sorted(
        [*stored_theirs, stored_kept, *thumbnail_files.values()]
    )

    assert api.delete(f"/records/{erased}").status_code == 200

    assert not Person.objects.filter(pk=erased).exists()
    assert not FaceImage.objects.filter(person_id=erased).exists()
    assert not FaceVector.objects.filter(owner_id=erased).exists()
    remaining = files_under(settings.MEDIA_ROOT)
    assert list(remaining.values()) == [stored_kept]  # only the other person's photo: no thumbnail
    assert not Source.objects.exists() and not Thumbnail.objects.exists()  # nor easy-thumbnails' rows
    for data in remaining.values():
        assert not any(vector in data for vector in vectors)
    # No index returns them, searched with their own vectors: this process's, that of a process
    # starting now (snapshot and database), and the API's.
    model_key = FaceImage.objects.get().model_key

    def people_nearest(vector: bytes) -> set[str]:
        return {str(n.person_id) for n in get_vector_index(model_key).search(np.frombuffer(vector, np.float32), 10)}

    assert [people_nearest(vector) for vector in vectors] == [{kept}] * 3
    galleries._indexes.clear()
    assert [people_nearest(vector) for vector in vectors] == [{kept}] * 3
    for data in theirs:
        body = api.post("/records/match", {"image": upload(data), "top_k": 10}).json()
        assert erased not in {match["id"] for match in body["top_matches"]}
    # The audit log names them by id only.
    assert AuditEvent.objects.filter(action="delete_person", target=erased).exists()


def test_no_index_snapshot_keeps_their_vectors(api, photo, settings):
    """The snapshot is written again without them, off the request, and a worker starting after
    that loads it."""
    from recognition.vectors.faiss_index import FaissIndex

    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    kept = enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    vector = bytes(FaceImage.objects.get(person_id=erased).face_vector.embedding)
    gallery = get_vector_index(FaceImage.objects.first().model_key)
    gallery.save()  # as a worker does at boot
    assert any(vector in data for data in files_under(settings.INDEX_DIR).values())

    api.delete(f"/records/{erased}")
    gallery.wait_for_upkeep()

    for data in files_under(settings.INDEX_DIR).values():
        assert vector not in data
    snapshot, watermark = FaissIndex.load(gallery.path)
    assert watermark["generation"] == gallery.generation
    assert {str(person) for person in snapshot._person_of.values()} == {kept}


def test_an_erasure_is_done_only_once_no_snapshot_can_hold_the_vector(api, photo, settings, monkeypatch):
    """The rewrite is only queued when the delete commits: the old snapshot goes at once, so a
    rewrite that fails leaves no copy; while another process holds the snapshot's lock (writing
    one, which may fail too) the erasure stays pending, and a retry completes it."""
    from filelock import FileLock

    from recognition.vectors.faiss_index import FrozenIndex
    from records.models import PendingErasure

    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    vector = bytes(FaceImage.objects.get(person_id=erased).face_vector.embedding)
    gallery = get_vector_index(FaceImage.objects.first().model_key)
    gallery.save()
    monkeypatch.setattr(FrozenIndex, "write", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("disk full")))

    api.delete(f"/records/{erased}")
    gallery.wait_for_upkeep()  # the rewrite failed

    assert not any(vector in data for data in files_under(settings.INDEX_DIR).values())
    assert not PendingErasure.objects.exists()

    monkeypatch.undo()
    gallery.save()
    other = enrol_with_photos(api, "Serena Williams", [photo("Serena_Williams", 0)])
    gallery.save()
    with FileLock(str(gallery.path) + ".lock"):  # another process writing the snapshot
        api.delete(f"/records/{other}")
        assert PendingErasure.objects.filter(model_key=gallery.model_key).exists()
    retry_by_command()
    assert not PendingErasure.objects.exists()


class FailingStorage:
    """Makes the storage refuse to delete the `failing`-th file it is asked to delete (a full disk,
    a bucket that times out), every time it is asked again, until `recover()` is called."""

    def __init__(self, monkeypatch, failing: int):
        from django.core.files.storage import FileSystemStorage

        self.calls, self.failing, self.failing_name, self.broken = 0, failing, None, True
        delete = FileSystemStorage.delete

        def flaky_delete(storage, name):
            self.calls += 1
            if self.calls == self.failing:
                self.failing_name = name
            if self.broken and name == self.failing_name:
                raise OSError(f"storage unavailable while deleting {name}")
            return delete(storage, name)

        monkeypatch.setattr(FileSystemStorage, "delete", flaky_delete)

    def recover(self):
        self.broken = False


def retry_by_command():
    from django.core.management import call_command

    call_command("erase_pending")


def retry_by_check_integrity():
    from django.core.management import call_command

    call_command("check_integrity", "--repair")


def retry_by_next_request(settings):
    from records import erasure

    settings.ERASURE_RETRY_SECONDS = 0
    erasure._next_retry = 0.0  # due now
    assert APIClient().get("/health").status_code == 200  # any request, even one without a key


@pytest.mark.parametrize("retry", ["command", "check_integrity", "next_request"])
def test_an_erasure_that_fails_midway_is_answered_and_completed_by_the_retry(
    api, photo, settings, monkeypatch, retry
):
    from records.models import PendingErasure

    theirs = [photo("Colin_Powell", n) for n in range(3)]
    erased = enrol_with_photos(api, "Colin Powell", theirs)
    kept = enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    stored_theirs, [stored_kept] = stored_photos(erased), stored_photos(kept)
    storage = FailingStorage(monkeypatch, failing=2)

    response = api.delete(f"/records/{erased}")

    # The delete committed: the original contract's answer, not a 500.
    assert response.status_code == 200
    assert response.json() == {
        "success": True, "message": "Successfully deleted record for 'Colin Powell'", "deleted_id": erased,
    }
    assert not Person.objects.filter(pk=erased).exists()
    remaining = list(files_under(settings.MEDIA_ROOT).values())
    # The photo whose deletion failed stays; the ones deleted before and after it went.
    assert stored_kept in remaining and sum(data in stored_theirs for data in remaining) == 1
    assert len(remaining) == 2
    assert PendingErasure.objects.count() == 1

    storage.recover()
    {"command": retry_by_command, "check_integrity": retry_by_check_integrity}.get(
        retry, lambda: retry_by_next_request(settings)
    )()

    assert list(files_under(settings.MEDIA_ROOT).values()) == [stored_kept]
    assert not PendingErasure.objects.exists()
    # Nothing else lost: the other person, their photo and their match.
    assert Person.objects.get(pk=kept).images.count() == 1
    match = api.post("/records/match", {"image": upload(photo("Tony_Blair", 1))}).json()
    assert match["best_match"]["id"] == kept


def test_erasure_stays_pending_while_storage_fails(api, photo, settings, monkeypatch):
    from django.core.management import call_command

    from records.models import PendingErasure

    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    FailingStorage(monkeypatch, failing=1)
    assert api.delete(f"/records/{erased}").status_code == 200

    with pytest.raises(SystemExit):
        call_command("erase_pending")
    [pending] = PendingErasure.objects.all()
    # Tried after the commit, then by the command.
    assert pending.attempts == 2 and "storage unavailable" in pending.last_error
    with pytest.raises(SystemExit):
        call_command("check_integrity")  # reported as a difference


def test_a_rolled_back_delete_keeps_its_photo(api, photo, settings):
    from django.db import transaction

    from records.models import PendingErasure

    person_id = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    stored = stored_photos(person_id)

    with pytest.raises(RuntimeError), transaction.atomic():
        Person.objects.get(pk=person_id).delete()
        raise RuntimeError("the transaction fails after the delete")

    assert Person.objects.filter(pk=person_id).exists()
    assert list(files_under(settings.MEDIA_ROOT).values()) == stored
    assert not PendingErasure.objects.exists()


def test_the_admin_history_keeps_no_name_of_an_erased_person(api, client, django_user_model, photo):
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    from records.usecases import enrolment

    # An earlier test's flush may have made the content types anew, under other ids than cached.
    ContentType.objects.clear_cache()
    client.force_login(django_user_model.objects.create_superuser("admin"))
    colin = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0), photo("Colin_Powell", 1)])
    tony = enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    george = enrolment.enrol("George Bush", photo("George_W_Bush", 0)).person
    # Renamed in the admin, one photo deleted there, then erased: one at a time, in bulk, from a shell.
    change = {
        "name": "Colin L. Powell", "metadata": "{}", "collection": george.collection_id,  # everyone's: default
        "images-TOTAL_FORMS": 2, "images-INITIAL_FORMS": 2, "images-MIN_NUM_FORMS": 0, "images-MAX_NUM_FORMS": 1000,
    }
    for n, image in enumerate(FaceImage.objects.filter(person_id=colin)):
        change |= {f"images-{n}-id": image.pk, f"images-{n}-person": colin}
    change["images-0-DELETE"] = "on"
    assert client.post(f"/admin/records/person/{colin}/change/", change).status_code == 302
    colin_photo = FaceImage.objects.get(person_id=colin)
    client.post(f"/admin/records/faceimage/{colin_photo.pk}/delete/", {"post": "yes"})
    for person_id in (tony, george.pk):
        client.post(f"/admin/records/person/{person_id}/change/", {**change, "name": "renamed", "images-TOTAL_FORMS": 0, "images-INITIAL_FORMS": 0})
    assert LogEntry.objects.filter(object_repr__contains="Colin").exists()
    assert LogEntry.objects.filter(change_message__contains="Colin").exists()  # the inline photo

    client.post(f"/admin/records/person/{colin}/delete/", {"post": "yes"})
    client.post("/admin/records/person/", {"action": "delete_selected", "_selected_action": [tony], "post": "yes"})
    george.delete()

    for name in ("Colin", "Powell", "Tony", "Blair", "George", "renamed"):
        assert not LogEntry.objects.filter(object_repr__icontains=name).exists()
        assert not LogEntry.objects.filter(change_message__icontains=name).exists()
    # The history still says who changed and deleted what, and when.
    assert LogEntry.objects.filter(object_id=colin, action_flag=3).exists()
    assert LogEntry.objects.filter(object_id=str(colin_photo.pk)).exists()


def test_sqlite_overwrites_deleted_vectors_in_the_database_file(api, photo):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's secure_delete; PostgreSQL needs VACUUM (docs/deploy.md)")
    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    vector = bytes(FaceImage.objects.get(person_id=erased).face_vector.embedding)

    api.delete(f"/records/{erased}")

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the write-ahead log into the file
        cursor.execute("PRAGMA secure_delete")
        assert cursor.fetchone() == (1,)
    assert vector not in Path(connection.settings_dict["NAME"]).read_bytes()
    # Asked for on every connection, not left to how SQLite was compiled (Debian's turns it on,
    # python.org's and macOS's do not).
    assert "PRAGMA secure_delete=ON" in [command.strip() for command in connection.init_commands]


def test_the_erasure_walk_finds_nothing_of_them_anywhere(
    api, client, django_user_model, photo, settings, gunicorn, api_client, tmp_path
):
    """Everywhere a person's data can live, after a delete sent to a running server: rows, files,
    the running worker's index and this process's, index snapshots, kept audit probes, the admin
    history, thumbnails, export files, the audit log, and (on SQLite) the database file itself."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from records.models import PendingErasure

    ContentType.objects.clear_cache()  # see test_the_admin_history_keeps_no_name_of_an_erased_person
    settings.AUDIT_KEEP_PROBES = True
    server = gunicorn(1, AUDIT_KEEP_PROBES="true")
    settings.INDEX_DIR = server.data_dir / "index"  # this process as another worker of the server
    remote = api_client(server)
    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", n) for n in range(3)])
    kept = enrol_with_photos(api, "Tony Blair", [photo("Tony_Blair", 0)])
    images = list(FaceImage.objects.filter(person_id=erased))
    vectors = [bytes(image.face_vector.embedding) for image in images]
    theirs = stored_photos(erased)
    probes = [photo("Colin_Powell", 3), photo("Colin_Powell", 4)]
    # Everything that makes copies: a match on the running worker and one here (probes kept), a
    # rename in the admin, their thumbnails, an export, an index snapshot.
    status, body, *_ = remote.match(probes[0])
    assert (status, body["best_match"]["id"]) == (200, erased)
    assert api.post("/records/match", {"image": upload(probes[1])}).json()["best_match"]["id"] == erased
    client.force_login(django_user_model.objects.create_superuser("admin"))
    rename = {"name": "Colin L. Powell", "metadata": "{}", "collection": Person.objects.get(pk=erased).collection_id,
              "images-TOTAL_FORMS": 0, "images-INITIAL_FORMS": 0,
              "images-MIN_NUM_FORMS": 0, "images-MAX_NUM_FORMS": 1000}
    assert client.post(f"/admin/records/person/{erased}/change/", rename).status_code == 302
    for image in images:
        assert client.get(f"/photos/{image.pk}/face.jpg").status_code == 200
    assert Thumbnail.objects.filter(source__name__contains=erased).count() == 3  # stored (easy-thumbnails)
    held_before = open_temporary_files()
    export = api.get(f"/records/{erased}/export")
    assert len(b"".join(export.streaming_content)) > sum(map(len, theirs))
    model_key = images[0].model_key
    get_vector_index(model_key).save()
    assert any(vectors[0] in data for data in files_under(settings.INDEX_DIR).values())
    kept_probes = [as_kept(probe) for probe in probes]
    assert len([p for p in files_under(Path(settings.MEDIA_ROOT, "audit")).values() if p in kept_probes]) == 2

    status, body, *_ = remote.delete(erased)
    assert (status, body["deleted_id"]) == (200, erased)

    # Rows.
    assert not Person.objects.filter(pk=erased).exists() and not FaceImage.objects.filter(person_id=erased).exists()
    assert not FaceVector.objects.filter(owner_id=erased).exists()
    assert not Source.objects.filter(name__contains=erased).exists() and not Thumbnail.objects.exists()
    assert not PendingErasure.objects.exists()  # every file erasure done
    assert not AuditEvent.objects.filter(target=erased).exclude(probe="").exists()
    # The server's worker writes the snapshot again without them, off the request: this process,
    # a worker of the same host, catches up and writes its own, under the file lock, so after
    # the server's.
    get_vector_index(model_key).sync()
    get_vector_index(model_key).wait_for_upkeep()
    # Files: under this test's media folder only the other person's photo is left (no photo,
    # thumbnail, probe or export of theirs), and no file of this test, the server's data folder
    # (its snapshots, its cache) included, holds their photos, probes or vectors.
    assert list(files_under(settings.MEDIA_ROOT).values()) == stored_photos(kept)
    everything = files_under(tmp_path) | files_under(settings.CACHES["default"]["LOCATION"])
    for path, data in everything.items():
        assert not any(secret in data for secret in [*theirs, *probes, *kept_probes, *vectors]), path
    # Indexes: the running worker, this process, a process starting now.
    for data in [*theirs, *probes, *kept_probes]:
        status, body, *_ = remote.match(data, top_k=10)
        assert status == 200 and erased not in {m["id"] for m in body["top_matches"]}

    def people_nearest(vector: bytes) -> set[str]:
        return {str(n.person_id) for n in get_vector_index(model_key).search(np.frombuffer(vector, np.float32), 10)}

    assert [people_nearest(vector) for vector in vectors] == [{kept}] * 3
    galleries._indexes.clear()
    assert [people_nearest(vector) for vector in vectors] == [{kept}] * 3
    # The admin history and the audit log name nobody; no export file is left open or on disk.
    for name in ("Colin", "Powell"):
        assert not LogEntry.objects.filter(object_repr__icontains=name).exists()
        assert not LogEntry.objects.filter(change_message__icontains=name).exists()
        assert not AuditEvent.objects.filter(detail__icontains=name).exists()
    assert open_temporary_files() == held_before
    # The database file itself (SQLite overwrites deleted rows: secure_delete).
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        database = Path(connection.settings_dict["NAME"]).read_bytes()
        assert not any(vector in database for vector in vectors)


def test_a_host_that_did_not_make_the_delete_rewrites_its_snapshot_as_it_catches_up(api, photo, settings, tmp_path):
    """Hosts with a DATA_DIR each share the database: the deleting one rewrites its own snapshot,
    every other host's workers rewrite theirs without the vector as soon as they catch up."""
    from recognition.vectors.faiss_backend import FaissVectorIndex

    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    vector = bytes(FaceImage.objects.get(person_id=erased).face_vector.embedding)
    model_key = FaceImage.objects.get().model_key
    settings.INDEX_DIR = tmp_path / "other-host-index"
    other_host = FaissVectorIndex(model_key)
    other_host.sync()
    other_host.save()
    assert any(vector in data for data in files_under(settings.INDEX_DIR).values())
    settings.INDEX_DIR = tmp_path / "index"

    api.delete(f"/records/{erased}")
    other_host.sync()  # its next search
    other_host.wait_for_upkeep()

    written = files_under(tmp_path / "other-host-index")
    assert other_host.path in written
    assert not any(vector in data for data in written.values())


def test_a_process_without_an_index_deletes_the_snapshot(api, photo, settings):
    """A shell or a command that deletes has loaded no index to write a snapshot from: the
    snapshot, which holds the vector, goes, and the next worker loads from the database."""
    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    model_key = FaceImage.objects.get().model_key
    get_vector_index(model_key).save()
    galleries._indexes.clear()  # this process as a shell that never searched

    Person.objects.get(pk=erased).delete()

    assert not list(Path(settings.INDEX_DIR).glob("*.npz"))


def test_the_admin_lists_pending_erasures_and_lets_nobody_change_them(api, client, django_user_model, photo, monkeypatch):
    from records.models import PendingErasure

    erased = enrol_with_photos(api, "Colin Powell", [photo("Colin_Powell", 0)])
    FailingStorage(monkeypatch, failing=1)
    api.delete(f"/records/{erased}")
    [pending] = PendingErasure.objects.all()
    client.force_login(django_user_model.objects.create_superuser("admin"))

    listing = client.get("/admin/records/pendingerasure/")
    assert listing.status_code == 200 and pending.file_name in listing.content.decode()
    assert client.post(f"/admin/records/pendingerasure/{pending.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PendingErasure.objects.filter(pk=pending.pk).exists()
