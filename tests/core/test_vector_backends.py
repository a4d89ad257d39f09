"""The contract every vector index keeps, run against each backend (VECTOR_BACKEND faiss and
milvus, the latter on the `milvus-lite server` of tests/conftest.py): made-up unit vectors for the
index itself, real photos through the service at the end."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from django.db import connection

from bench.serving import database_url
from recognition.models import FaceVector
from recognition.vectors.base import database_watermark
from recognition.vectors.indexes import get_vector_index, rebuild
from tests.conftest import vector_store

ROOT = Path(__file__).resolve().parents[2]
MODEL = "Test:contract:v1"
OTHER_MODEL = "Test:contract:v2"
DIMENSION = 32

pytestmark = pytest.mark.django_db


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def near(vector: np.ndarray, scale: float, seed: int) -> np.ndarray:
    moved = vector + scale * unit_vectors(1, seed)[0]
    return (moved / np.linalg.norm(moved)).astype(np.float32)


def store(vectors, owners, model_key=MODEL) -> list[FaceVector]:
    return [FaceVector.objects.store(model_key, owner, vector) for vector, owner in zip(vectors, owners)]


def owners_found(vector, top_k=5, model_key=MODEL) -> list[uuid.UUID]:
    return [n.person_id for n in get_vector_index(model_key).search(vector, top_k)]


def test_the_owner_of_the_nearest_vector_comes_first(vector_backend):
    vectors, owners = unit_vectors(6, seed=1), [uuid.uuid4() for _ in range(6)]
    store(vectors, owners)
    for vector, owner in zip(vectors, owners):
        found = get_vector_index(MODEL).search(near(vector, 0.05, seed=2), top_k=3)
        assert found[0].person_id == owner
        assert 0 <= found[0].distance < 0.01
        assert [n.distance for n in found] == sorted(n.distance for n in found)
    assert get_vector_index(MODEL).count() == 6
    assert get_vector_index(MODEL).backend == vector_backend


def test_top_k_distinct_owners_when_one_owner_has_many_vectors(vector_backend):
    query = unit_vectors(1, seed=3)[0]
    crowd, others = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    # Fifty photos of one person nearer the query than anybody else's.
    store([near(query, 0.05 + i / 1000, seed=100 + i) for i in range(50)], [crowd] * 50)
    store([near(query, 0.5 + i / 10, seed=200 + i) for i in range(3)], others)
    found = get_vector_index(MODEL).search(query, top_k=4)
    assert [n.person_id for n in found] == [crowd, *others]
    assert len({n.vector_id for n in found}) == 4


def test_a_deleted_vector_is_never_returned(vector_backend):
    vectors, owners = unit_vectors(3, seed=4), [uuid.uuid4() for _ in range(3)]
    stored = store(vectors, owners)
    assert owners_found(vectors[1], top_k=1) == [owners[1]]
    stored[1].delete()  # logs the removal, as deleting a photo does
    assert owners[1] not in owners_found(vectors[1], top_k=3)
    assert get_vector_index(MODEL).count() == 2
    assert get_vector_index(MODEL).vector_ids() == {stored[0].vector_id, stored[2].vector_id}


def test_a_person_keeps_being_found_while_they_have_a_photo_left(vector_backend):
    person = uuid.uuid4()
    first, second = store(unit_vectors(2, seed=5), [person, person])
    first.delete()
    assert owners_found(first.vector, top_k=1) == [person]
    assert get_vector_index(MODEL).search(first.vector, top_k=1)[0].vector_id == second.vector_id


def test_model_keys_are_kept_apart(vector_backend):
    vectors = unit_vectors(2, seed=6)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    store(vectors[:1], [mine])
    store(vectors[1:], [theirs], model_key=OTHER_MODEL)
    assert owners_found(vectors[1]) == [mine]
    assert owners_found(vectors[0], model_key=OTHER_MODEL) == [theirs]


def test_a_search_kept_to_partitions_returns_none_of_another(vector_backend):
    """The nearer partition holds many near-copies of the query: a filter of the nearest overall
    would find nobody of the farther one."""
    query = unit_vectors(1, seed=11)[0]
    nearer = [uuid.uuid4() for _ in range(200)]
    farther = [uuid.uuid4() for _ in range(5)]
    for number, owner in enumerate(nearer):
        FaceVector.objects.store(MODEL, owner, near(query, 0.05, seed=100 + number), partition="near")
    for vector, owner in zip(unit_vectors(5, seed=12), farther):
        FaceVector.objects.store(MODEL, owner, vector, partition="far")

    gallery = get_vector_index(MODEL)
    assert {n.person_id for n in gallery.search(query, 3, partitions=["far"])} <= set(farther)
    assert len(gallery.search(query, 3, partitions=["far"])) == 3
    assert {n.person_id for n in gallery.search(query, 3)} <= set(nearer)
    assert gallery.search(query, 3, partitions=["nobody"]) == []


def test_an_empty_gallery_finds_nobody(vector_backend):
    assert get_vector_index(MODEL).search(unit_vectors(1, seed=7)[0], top_k=5) == []
    assert get_vector_index(MODEL).count() == 0


def test_a_rebuild_gives_the_same_answers(vector_backend):
    vectors, owners = unit_vectors(20, seed=8), [uuid.uuid4() for _ in range(20)]
    stored = store(vectors, owners)
    stored[3].delete()
    query = near(vectors[5], 0.3, seed=9)
    before = get_vector_index(MODEL).search(query, top_k=5)
    epoch = database_watermark(MODEL).epoch
    rebuild(MODEL)
    assert database_watermark(MODEL).epoch == epoch + 1
    assert get_vector_index(MODEL).search(query, top_k=5) == before
    assert get_vector_index(MODEL).count() == 19
    assert get_vector_index(MODEL).applied == database_watermark(MODEL)


def test_replaying_a_change_is_harmless(vector_backend):
    vectors, owners = unit_vectors(2, seed=10), [uuid.uuid4() for _ in range(2)]
    stored = store(vectors, owners)
    gallery = get_vector_index(MODEL)
    gallery.sync()
    gallery.add([stored[0].vector_id], vectors[:1], owners[:1])  # a writer that died before recording it
    gallery.remove([stored[1].vector_id, 10**9])  # and an id the index never held
    assert gallery.count() == 1
    assert owners_found(vectors[0], top_k=5) == [owners[0]]


def test_the_applied_generation_follows_the_database(vector_backend):
    gallery = get_vector_index(MODEL)
    store(unit_vectors(3, seed=11), [uuid.uuid4() for _ in range(3)])
    assert gallery.applied != database_watermark(MODEL)  # nothing searched yet
    gallery.sync()
    assert gallery.applied == database_watermark(MODEL)


@pytest.mark.django_db(transaction=True)
def test_catches_up_after_another_process_wrote(vector_backend, settings, tmp_path):
    vectors, owners = unit_vectors(3, seed=12), [uuid.uuid4() for _ in range(3)]
    stored = store(vectors[:2], owners[:2])
    assert owners_found(vectors[0], top_k=1) == [owners[0]]  # this process is loaded

    # Another process adds a vector and deletes one: this process hears nothing of it.
    script = (
        "import numpy as np, uuid; from recognition.models import FaceVector; "
        f"FaceVector.objects.store({MODEL!r}, uuid.UUID({str(owners[2])!r}), np.array({vectors[2].tolist()}, dtype=np.float32)); "
        f"FaceVector.objects.get(pk={stored[0].pk}).delete()"
    )
    other_process(settings, tmp_path, "shell", "-c", script)

    assert owners_found(vectors[2], top_k=1) == [owners[2]]
    assert owners[0] not in owners_found(vectors[0], top_k=3)
    assert get_vector_index(MODEL).applied == database_watermark(MODEL)


@pytest.mark.django_db(transaction=True)
def test_reloads_after_another_process_rebuilt(vector_backend, settings, tmp_path):
    vectors, owners = unit_vectors(3, seed=18), [uuid.uuid4() for _ in range(3)]
    stored = store(vectors, owners)
    assert owners_found(vectors[1], top_k=1) == [owners[1]]

    # Another process deletes a vector and starts a new epoch: the removal log before it is gone,
    # so only reloading from the database drops the vector here.
    script = (
        f"from recognition.models import FaceVector; from recognition.vectors.indexes import rebuild; "
        f"FaceVector.objects.get(pk={stored[1].pk}).delete(); rebuild({MODEL!r})"
    )
    other_process(settings, tmp_path, "shell", "-c", script)

    assert owners[1] not in owners_found(vectors[1], top_k=3)
    assert get_vector_index(MODEL).count() == 2
    assert get_vector_index(MODEL).applied == database_watermark(MODEL)


def test_search_many_answers_each_vector(vector_backend):
    vectors, owners = unit_vectors(4, seed=19), [uuid.uuid4() for _ in range(4)]
    store(vectors, owners)
    found = get_vector_index(MODEL).search_many([near(v, 0.05, seed=20 + i) for i, v in enumerate(vectors)], top_k=2)
    assert [answer[0].person_id for answer in found] == owners
    assert all(len(answer) == 2 for answer in found)


def test_distinct_owners_within_a_partition_when_one_has_many_vectors(vector_backend):
    query = unit_vectors(1, seed=21)[0]
    crowd, other, outsider = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for number in range(40):
        FaceVector.objects.store(MODEL, crowd, near(query, 0.05 + number / 1000, seed=300 + number), partition="a")
    FaceVector.objects.store(MODEL, other, near(query, 0.8, seed=400), partition="a")
    FaceVector.objects.store(MODEL, outsider, near(query, 0.02, seed=401), partition="b")
    found = get_vector_index(MODEL).search(query, top_k=2, partitions=["a"])
    assert [n.person_id for n in found] == [crowd, other]


def other_process(settings, tmp_path, *args) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DATA_DIR": str(tmp_path / "other-process"),  # its own snapshots: it starts from the database
        "DEBUG": "1",
        "LOG_LEVEL": "WARNING",
        "VECTOR_BACKEND": settings.VECTOR_BACKEND,
        "MILVUS_URI": settings.MILVUS_URI,
        "MILVUS_COLLECTION_PREFIX": settings.MILVUS_COLLECTION_PREFIX,
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_enrol_match_and_erase_real_photos(vector_backend, face_service, photo, django_capture_on_commit_callbacks):
    from records.models import Person
    from records.usecases.enrolment import enrol
    from records.usecases.matching import match

    with django_capture_on_commit_callbacks(execute=True):
        blair = enrol("Tony Blair", photo("Tony_Blair", 0)).person
        powell = enrol("Colin Powell", photo("Colin_Powell", 0)).person
    assert match(photo("Tony_Blair", 3), top_k=2).best_match.id == str(blair.pk)
    with django_capture_on_commit_callbacks(execute=True):
        Person.objects.get(pk=blair.pk).delete()
    assert [m.id for m in match(photo("Tony_Blair", 3), top_k=5).top_matches] == [str(powell.pk)]
    assert get_vector_index(face_service.model_key).count() == 1


def test_check_says_when_milvus_does_not_answer(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from bench.serving import free_port

    settings.VECTOR_BACKEND = "milvus"
    settings.MILVUS_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(SystemCheckError, match=f"Milvus does not answer at MILVUS_URI={settings.MILVUS_URI}"):
        call_command("check")
    settings.MILVUS_URI = ""
    with pytest.raises(SystemCheckError, match="VECTOR_BACKEND=milvus needs MILVUS_URI"):
        call_command("check")


def test_check_names_an_index_type_it_does_not_make(settings):
    from recognition.checks import vector_backend_answers

    settings.VECTOR_BACKEND, settings.MILVUS_INDEX_TYPE = "milvus", "IVF_FLAT"
    assert [error.id for error in vector_backend_answers(None)] == ["recognition.E007"]


def test_check_is_content_with_a_milvus_that_answers(vector_backend):
    from recognition.checks import vector_backend_answers

    assert vector_backend_answers(None) == []


# --- Milvus only: a collection that is not as this code makes it ------------------------------------


def as_a_new_process_finds_it():
    from recognition.vectors import indexes as galleries

    galleries._indexes.clear()
    return get_vector_index(MODEL)


def test_a_collection_made_before_partitions_is_reloaded_from_the_database(milvus_backend):
    from pymilvus import DataType, MilvusClient

    query = unit_vectors(1, seed=13)[0]
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    FaceVector.objects.store(MODEL, mine, near(query, 0.05, seed=14), partition="mine")
    FaceVector.objects.store(MODEL, theirs, query, partition="theirs")
    gallery = get_vector_index(MODEL)
    gallery.sync()
    # The collection as the first Milvus backend made it: no partition field, and the generation
    # it holds recorded as the database's.
    client = gallery.client
    client.drop_collection(gallery.name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("vector_id", DataType.INT64, is_primary=True)
    schema.add_field("owner", DataType.VARCHAR, max_length=36)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIMENSION)
    index = client.prepare_index_params()
    index.add_index(field_name="embedding", index_type="FLAT", metric_type="IP")
    client.create_collection(gallery.name, schema=schema, index_params=index, consistency_level="Strong")
    client.upsert(gallery.name, [
        {"vector_id": row.vector_id, "owner": str(row.owner_id), "embedding": row.vector}
        for row in FaceVector.objects.filter(model_key=MODEL)
    ])
    assert gallery.applied == database_watermark(MODEL)

    found = as_a_new_process_finds_it().search(query, top_k=2, partitions=["mine"])
    assert [n.person_id for n in found] == [mine]
    assert {f["name"] for f in client.describe_collection(gallery.name)["fields"]} >= {"partition"}
    assert get_vector_index(MODEL).count() == 2


def test_a_released_collection_is_loaded_again(milvus_backend):
    """As Milvus Lite leaves every collection after it restarts."""
    vectors, owners = unit_vectors(3, seed=15), [uuid.uuid4() for _ in range(3)]
    store(vectors, owners)
    gallery = get_vector_index(MODEL)
    gallery.sync()
    gallery.client.release_collection(gallery.name)
    assert owners_found(vectors[1], top_k=1) == [owners[1]]
    gallery.client.release_collection(gallery.name)
    assert gallery.count() == 3


def test_a_collection_lost_under_a_process_that_had_checked_it_is_loaded_again(milvus_backend):
    """As a Milvus restarted without its data leaves it: the process that had checked the
    collection, with nothing new in the database, still finds everyone."""
    vectors, owners = unit_vectors(3, seed=27), [uuid.uuid4() for _ in range(3)]
    store(vectors, owners)
    gallery = get_vector_index(MODEL)
    assert owners_found(vectors[0], top_k=1) == [owners[0]]
    gallery.client.drop_collection(gallery.name)
    assert owners_found(vectors[2], top_k=1) == [owners[2]]
    assert gallery.count() == 3


def index_type(gallery) -> str:
    return gallery.client.describe_index(gallery.name, index_name="embedding")["index_type"]


def test_hnsw_above_the_size_set(milvus_backend, settings, caplog):
    settings.MILVUS_HNSW_ABOVE = 5
    vectors, owners = unit_vectors(8, seed=16), [uuid.uuid4() for _ in range(8)]
    store(vectors[:4], owners[:4])
    gallery = get_vector_index(MODEL)
    gallery.sync()
    assert index_type(gallery) == "FLAT"
    store(vectors[4:], owners[4:])
    gallery.sync()
    assert index_type(gallery) == "FLAT"  # never changed under running searches

    gallery = as_a_new_process_finds_it()  # only says so
    assert owners_found(vectors[5], top_k=1) == [owners[5]]
    assert index_type(gallery) == "FLAT"
    assert "has a FLAT index, the settings ask for HNSW" in caplog.text

    rebuild(MODEL)  # loads it again with the index its size calls for
    assert index_type(gallery) == "HNSW"
    assert [owners_found(vector, top_k=1)[0] for vector in vectors] == owners
    assert gallery.applied == database_watermark(MODEL)

    FaceVector.objects.filter(owner_id__in=owners[:5]).delete()
    rebuild(MODEL)
    assert index_type(gallery) == "FLAT"
    assert get_vector_index(MODEL).count() == 3


def test_a_fixed_index_type_is_what_a_loaded_collection_gets(milvus_backend, settings):
    settings.MILVUS_INDEX_TYPE = "HNSW"
    vectors, owners = unit_vectors(3, seed=17), [uuid.uuid4() for _ in range(3)]
    store(vectors, owners)
    assert owners_found(vectors[2], top_k=1) == [owners[2]]
    assert index_type(get_vector_index(MODEL)) == "HNSW"
    settings.MILVUS_INDEX_TYPE, settings.MILVUS_HNSW_ABOVE = "FLAT", 0
    rebuild(MODEL)
    assert owners_found(vectors[0], top_k=1) == [owners[0]]
    assert index_type(get_vector_index(MODEL)) == "FLAT"




@pytest.fixture
def milvus_server_backend(request, settings):
    """VECTOR_BACKEND=milvus on the real Milvus server alone (what Milvus Lite does not have: a
    time tick), collections of the test's own."""
    with vector_store(request, settings, "milvus", "milvus_standalone_server"):
        yield "milvus"


@pytest.mark.db_independent
def test_searches_after_a_write_wait_for_no_time_tick(milvus_server_backend):
    """A search asks Milvus for the last write the database recorded, not for everything written
    before it (Strong: the next 200 ms time tick, every search): another worker's searches find the
    new vector at once and twenty take well under the 4 s that twenty time ticks would."""
    import time

    vectors, owners = unit_vectors(2, seed=22), [uuid.uuid4() for _ in range(2)]
    store(vectors[:1], owners[:1])
    assert owners_found(vectors[0], top_k=1) == [owners[0]]  # this worker wrote it to Milvus
    store(vectors[1:], owners[1:])
    assert owners_found(vectors[1], top_k=1) == [owners[1]]
    gallery = as_a_new_process_finds_it()
    started = time.perf_counter()
    for _ in range(20):
        assert [n.person_id for n in gallery.search(vectors[1], top_k=1)] == [owners[1]]
    assert time.perf_counter() - started < 2.0


def test_a_gallery_is_loaded_by_insert_and_changes_after_are_upserted(milvus_backend, monkeypatch):
    """Milvus 2.3 writes an upsert as a delete and an insert of each row and compacts, and indexes
    again, every segment such deletes fall in (milvus-io/milvus#30121): a gallery loaded into a
    new collection goes in by insert, the changes after it (which a writer that died replays) by
    upsert."""
    vectors, owners = unit_vectors(4, seed=23), [uuid.uuid4() for _ in range(4)]
    store(vectors[:3], owners[:3])
    gallery = get_vector_index(MODEL)
    connection = gallery.client._get_connection()
    writes = []
    for method in ("insert_rows", "upsert_rows"):
        def counted(name, rows, *args, _method=method, _write=getattr(connection, method), **kwargs):
            writes.append((_method, len(rows)))
            return _write(name, rows, *args, **kwargs)

        monkeypatch.setattr(connection, method, counted)

    gallery.sync()
    store(vectors[3:], owners[3:])

    assert owners_found(vectors[3], top_k=1) == [owners[3]]
    assert writes == [("insert_rows", 3), ("upsert_rows", 1)]
    assert [owners_found(vector, top_k=1) for vector in vectors] == [[owner] for owner in owners]
    rebuild(MODEL)
    assert owners_found(vectors[0], top_k=1) == [owners[0]]
    assert writes[2:] == [("insert_rows", 4)]
    assert get_vector_index(MODEL).count() == 4


def test_health_says_how_much_of_the_milvus_index_is_built(milvus_backend, face_service):
    """Both servers say how far the index covers the collection (Milvus Lite builds as it inserts:
    nothing is ever left); a key limited to some collections is not told (it counts everyone's)."""
    from records.api.serializers import HealthSerializer
    from records.usecases.health import health_report

    vectors, owners = unit_vectors(3, seed=24), [uuid.uuid4() for _ in range(3)]
    store(vectors, owners, model_key=face_service.model_key)
    gallery = get_vector_index(face_service.model_key)
    gallery.sync()
    gallery.client.flush(gallery.name)

    model = HealthSerializer(health_report()).data["models"][face_service.model_key]
    limited = HealthSerializer(health_report(partitions=[""])).data["models"][face_service.model_key]

    build = model["index_build"]
    assert set(build) == {"unindexed_rows", "reindexing_rows"}
    assert 0 <= build["unindexed_rows"] + build["reindexing_rows"] <= 3
    assert "index_build" not in limited


def test_a_load_put_in_place_by_a_process_killed_before_it_was_recorded_is_applied_again_without_doubles(
        milvus_backend, monkeypatch):
    """A process killed after its load took the collection's name, before recording it, left the
    older generation recorded: the next catch-up upserts the changes since over what the load had
    inserted, so nobody is in Milvus twice."""
    vectors, owners = unit_vectors(4, seed=25), [uuid.uuid4() for _ in range(4)]
    store(vectors[:2], owners[:2])
    gallery = get_vector_index(MODEL)
    gallery.sync()
    store(vectors[2:], owners[2:])
    gallery.client.drop_collection(gallery.name)  # an emptied Milvus: the next catch-up loads it all
    rename = gallery.client.rename_collection

    def renamed_then_killed(*args, **kwargs):
        rename(*args, **kwargs)
        raise RuntimeError("killed")

    monkeypatch.setattr(gallery.client, "rename_collection", renamed_then_killed)
    with pytest.raises(RuntimeError):
        gallery.sync()
    monkeypatch.undo()

    after = as_a_new_process_finds_it()
    assert [[n.person_id for n in after.search(vector, top_k=1)] for vector in vectors] == [[o] for o in owners]
    assert after.count() == 4
    assert after.vector_ids() == {row.vector_id for row in FaceVector.objects.filter(model_key=MODEL)}


# The load's own transaction, not a savepoint in the test's, rolled back as a killed process's is.
# On PostgreSQL the load reads the gallery through a server-side cursor: its reader, stopped midway,
# is closed at once (VectorIndex._add_rows), not by the garbage collector inside whatever
# transaction is open then (this test's next catch-up's), which it would abort.
@pytest.mark.django_db(transaction=True)
def test_a_load_killed_midway_leaves_no_part_of_the_gallery_taken_for_the_whole(milvus_backend, monkeypatch):
    """Milvus emptied after a recorded load, and the process loading it again killed after its
    first batch, its transaction rolled back: the watermark recorded is still the database's, and
    the next process must not take what that load inserted for the whole gallery. It finds
    everyone, and no loading collection is left behind."""
    from recognition.vectors import base
    from recognition.vectors.milvus_backend import LOADING_SUFFIX

    vectors, owners = unit_vectors(4, seed=26), [uuid.uuid4() for _ in range(4)]
    store(vectors, owners)
    gallery = get_vector_index(MODEL)
    gallery.sync()
    gallery.client.drop_collection(gallery.name)

    monkeypatch.setattr(base, "LOAD_CHUNK", 2)
    connection = gallery.client._get_connection()
    insert, inserted = connection.insert_rows, []

    def killed_after_the_first_batch(name, rows, *args, **kwargs):
        if inserted:
            raise RuntimeError("killed")
        inserted.extend(rows)
        return insert(name, rows, *args, **kwargs)

    monkeypatch.setattr(connection, "insert_rows", killed_after_the_first_batch)
    with pytest.raises(RuntimeError):
        as_a_new_process_finds_it().sync()  # a process's first use finds the collection missing
    monkeypatch.undo()
    assert len(inserted) == 2
    assert gallery.applied == database_watermark(MODEL)

    after = as_a_new_process_finds_it()
    assert [[n.person_id for n in after.search(vector, top_k=1)] for vector in vectors] == [[o] for o in owners]
    assert after.count() == 4
    assert not after.client.has_collection(after.name + LOADING_SUFFIX)
