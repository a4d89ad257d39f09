"""The approximate and compact vector indexes on real faces: LFW photos through the real model,
searched by FAISS's IVF index in float16 (trained, written to a snapshot and loaded by a new
worker) and by Milvus's HNSW index, against an exact float32 scan of the same vectors. Made-up
vectors (tests/perf, test_faiss_upkeep.py, test_vector_backends.py) have no identities; these do."""

import uuid

import numpy as np
import pytest
from django.db import transaction

from recognition.imaging import decode_image
from recognition.models import FaceVector
from recognition.vectors import faiss_backend
from recognition.vectors.faiss_index import FaissIndex
from recognition.vectors.indexes import get_vector_index

MODEL = "Test:real-faces:v1"
PEOPLE = 100  # enrolled with their first photo, probed with their second
STRANGERS = 60  # enrolled with their only photo: more faces to be confused with

# The FAISS upkeep thread reads what committed. What a vector store answers does not depend on
# the database: scripts/test runs these on its SQLite pass only.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.db_independent]


@pytest.fixture(scope="module")
def faces(lfw_people, face_service):
    """(gallery vectors, their owners, probe vectors, the probes' owners): 160 enrolled, 100 probes."""
    people = sorted(name for name, photos in lfw_people.items() if len(photos) >= 2)[:PEOPLE]
    strangers = sorted(name for name, photos in lfw_people.items() if len(photos) == 1)[:STRANGERS]

    def embedding(path):
        return face_service.analyse(decode_image(path.read_bytes())).primary.embedding

    def owner(name):
        return uuid.uuid5(uuid.NAMESPACE_URL, name)

    enrolled = people + strangers
    gallery = np.stack([embedding(lfw_people[name][0]) for name in enrolled])
    probes = np.stack([embedding(lfw_people[name][1]) for name in people])
    return gallery, [owner(name) for name in enrolled], probes, [owner(name) for name in people]


def exact_answers(faces, top_k=5):
    gallery, owners, probes, _ = faces
    index = FaissIndex()
    index.add(list(range(len(gallery))), gallery, owners)
    return [index.search_people(probe, top_k) for probe in probes]


def stored(faces) -> None:
    """The gallery's rows, in one transaction: the index catches up with all of them at once."""
    gallery, owners, *_ = faces
    with transaction.atomic():
        for vector, owner in zip(gallery, owners):
            FaceVector.objects.store(MODEL, owner, vector)


def assert_same_answers(found, exact, tolerance):
    """The same person first for every probe, at the exact distance to within `tolerance`."""
    assert [answer[0].person_id for answer in found] == [answer[0].person_id for answer in exact]
    assert max(abs(answer[0].distance - best[0].distance) for answer, best in zip(found, exact)) < tolerance


def test_the_exact_scan_names_the_probes(faces):
    """What the other tests compare with: the model on these photos names nearly everyone."""
    *_, wanted = faces
    named = [answer[0].person_id for answer in exact_answers(faces)]
    assert np.mean([person == owner for person, owner in zip(named, wanted)]) >= 0.95


def test_faiss_ivf_in_float16_from_a_snapshot_answers_as_the_exact_scan(faces, settings, monkeypatch):
    settings.APPROXIMATE_INDEX_ABOVE, settings.FAISS_VECTOR_TYPE = 100, "float16"
    stored(faces)
    gallery = get_vector_index(MODEL)
    gallery.sync()
    gallery.wait_for_upkeep()  # IVF trained on a background thread once past 100 vectors
    gallery.save()  # the snapshot the next upkeep would write
    assert gallery.index.is_approximate and gallery.index.vector_type == "float16"

    restarted = faiss_backend.FaissVectorIndex(MODEL)  # a new worker, on the same DATA_DIR
    monkeypatch.setattr(restarted, "rebuild_from_database", lambda state: pytest.fail("the snapshot was not loaded"))
    restarted.sync()
    assert restarted.index.is_approximate and restarted.index.vector_type == "float16"

    found = restarted.search_many(faces[2], 5)
    # fp16 keeps about 3 significant digits: distances move by up to ~5e-4.
    assert_same_answers(found, exact_answers(faces), tolerance=2e-3)


def test_milvus_hnsw_answers_as_the_exact_scan(faces, milvus_backend, settings):
    settings.MILVUS_INDEX_TYPE = "HNSW"
    stored(faces)
    gallery = get_vector_index(MODEL)
    # 40 of the probes: a search with Strong consistency takes about 0.2 s on the real server.
    found = gallery.search_many(faces[2][:40], 5)
    assert gallery.client.describe_index(gallery.name, index_name="embedding")["index_type"] == "HNSW"
    assert_same_answers(found, exact_answers(faces)[:40], tolerance=1e-4)
