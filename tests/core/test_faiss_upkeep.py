"""The FAISS backend's long work off the request path (recognition/vectors/faiss_backend.py): a
snapshot written and IVF trained on a background thread from a frozen index while searches and
changes go on, and neither losing nor bringing back a vector. Made-up unit vectors, no model."""

import threading
import uuid

import numpy as np
import pytest

from recognition.vectors import faiss_index as index_module
from recognition.models import FaceVector
from recognition.vectors import faiss_backend
from recognition.vectors.faiss_index import FrozenIndex, FaissIndex
from recognition.vectors.indexes import get_vector_index

MODEL = "Test:upkeep:v1"
DIMENSION = 16

pytestmark = pytest.mark.django_db(transaction=True)  # the background thread reads what committed


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def store(vectors) -> list[FaceVector]:
    return [FaceVector.objects.store(MODEL, uuid.uuid4(), vector) for vector in vectors]


def nearest_owner(vector):
    found = get_vector_index(MODEL).search(vector, 1)
    return found[0].person_id if found else None


class HeldBack:
    """Holds a background step (FrozenIndex.write or .retrained) until released: the test then
    does what a request would while that step runs. Never blocks a test for good: after two
    minutes the step goes on, and `released` says it was not released."""

    def __init__(self, monkeypatch, method: str):
        self.entered, self.release, self.released = threading.Event(), threading.Event(), None
        original = getattr(FrozenIndex, method)

        def held(frozen, *args, **kwargs):
            self.entered.set()
            self.released = self.release.wait(timeout=120)
            return original(frozen, *args, **kwargs)

        monkeypatch.setattr(FrozenIndex, method, held)


def installed_snapshots(monkeypatch) -> list[tuple[int, set[int]]]:
    """The (generation, vector ids) of every snapshot put in place, read as it is renamed."""
    installed = []
    replace = faiss_backend.os.replace

    def recording_replace(source, target):
        snapshot, watermark = FaissIndex.load(source)
        installed.append((watermark["generation"], snapshot.vector_ids))
        replace(source, target)

    monkeypatch.setattr(faiss_backend.os, "replace", recording_replace)
    return installed


def test_a_snapshot_is_written_while_searches_and_changes_go_on(monkeypatch):
    monkeypatch.setattr(faiss_backend, "SAVE_EVERY_CHANGES", 5)
    write = HeldBack(monkeypatch, "write")
    vectors = unit_vectors(8, seed=1)
    stored = store(vectors[:5])  # the fifth change makes a snapshot due
    gallery = get_vector_index(MODEL)
    assert write.entered.wait(timeout=120)

    # The write is held: a request that searched only returns if it did not wait for it.
    later = store(vectors[5:])
    assert nearest_owner(vectors[7]) == later[-1].owner_id  # added while frozen
    assert nearest_owner(vectors[0]) == stored[0].owner_id
    assert not gallery.path.exists()
    write.release.set()
    gallery.wait_for_upkeep()

    assert write.released
    snapshot, watermark = FaissIndex.load(gallery.path)
    held = {v.vector_id for v in stored + later if v.generation <= watermark["generation"]}
    assert snapshot.vector_ids == held and len(held) >= 5
    assert gallery.count() == 8 and gallery.index._index.ntotal == 8  # the changes folded in


def test_a_delete_writes_a_fresh_snapshot_without_the_vector(monkeypatch):
    stored = store(unit_vectors(4, seed=2))
    gallery = get_vector_index(MODEL)
    gallery.sync()
    gallery.save()
    erased = stored[1]
    installed = installed_snapshots(monkeypatch)

    erased.delete()
    gallery.purge_removed()  # what records/erasure.py calls once the delete commits
    gallery.wait_for_upkeep()

    snapshot, watermark = FaissIndex.load(gallery.path)
    assert watermark["generation"] == gallery.generation
    assert snapshot.vector_ids == {v.vector_id for v in stored} - {erased.vector_id}
    assert erased.embedding not in gallery.path.read_bytes()
    assert len(installed) == 1
    assert not list(gallery.path.parent.glob("*.tmp"))


def test_a_write_overtaken_by_a_removal_is_never_put_in_place(monkeypatch):
    """A removal that commits while a snapshot holding the vector is being written: that snapshot
    is thrown away, and so is the older one on disk; the next write goes without the vector."""
    stored = store(unit_vectors(6, seed=3))
    gallery = get_vector_index(MODEL)
    gallery.sync()
    gallery.save()
    installed = installed_snapshots(monkeypatch)
    monkeypatch.setattr(faiss_backend, "SAVE_EVERY_CHANGES", 1)
    write = HeldBack(monkeypatch, "write")
    store(unit_vectors(1, seed=4))  # a snapshot becomes due: the write starts, and is held
    assert write.entered.wait(timeout=120)

    stored[2].delete()
    assert nearest_owner(unit_vectors(6, seed=3)[2]) != stored[2].owner_id
    write.release.set()
    gallery.wait_for_upkeep()

    assert write.released
    for generation, vector_ids in installed:
        assert stored[2].vector_id not in vector_ids, generation
    assert stored[2].embedding not in gallery.path.read_bytes()
    assert not list(gallery.path.parent.glob("*.tmp"))


@pytest.mark.parametrize("seed", range(5))
def test_a_retrain_swap_loses_nothing_and_brings_nothing_back(seed):
    """Random additions, replacements and removals before, during and after training on a frozen
    index: after the swap the index holds exactly what a plain dict of the changes holds, and
    while frozen every search is the exact answer over that dict."""
    rng = np.random.default_rng(seed)
    index = FaissIndex(approximate_above=60, nprobe=1 << 20)  # every list probed: exact
    expected: dict[int, np.ndarray] = {}
    next_id = 0

    def change():
        nonlocal next_id
        action = rng.integers(3) if expected else 0
        if action == 0 or action == 1 and not expected:  # a new vector
            vector_ids = list(range(next_id, next_id + int(rng.integers(1, 4))))
            next_id += len(vector_ids)
        elif action == 1:  # a replayed addition of a vector present
            vector_ids = [int(rng.choice(list(expected)))]
        else:
            gone = [int(i) for i in rng.choice(list(expected), size=min(len(expected), 3), replace=False)]
            assert index.remove(gone) == len(gone)
            for vector_id in gone:
                del expected[vector_id]
            return
        vectors = unit_vectors(len(vector_ids), seed=int(rng.integers(1 << 30)))
        index.add(vector_ids, vectors, [uuid.UUID(int=i + 1) for i in vector_ids])
        expected.update(zip(vector_ids, vectors))

    def exact_nearest(query) -> list[int]:
        ids = list(expected)
        similarities = np.stack([expected[i] for i in ids]) @ query
        return [ids[j] for j in np.argsort(-similarities, kind="stable")[:5]]

    start = unit_vectors(100, seed=seed)
    index.add(list(range(100)), start, [uuid.UUID(int=i + 1) for i in range(100)])
    expected.update(zip(range(100), start))
    next_id = 100
    for _ in range(40):
        change()
    assert index.needs_training()
    frozen = index.freeze()
    for _ in range(40):
        change()
    retrained = frozen.retrained()
    for _ in range(40):
        change()
        query = unit_vectors(1, seed=int(rng.integers(1 << 30)))[0]
        assert index.nearest(query[None], 5)[1][0].tolist() == exact_nearest(query)
    index.thaw(retrained)

    assert index.is_approximate
    assert index.vector_ids == set(expected) and len(index) == len(expected)
    ids, vectors = index_module._contents(index._index, DIMENSION)
    assert sorted(ids.tolist()) == sorted(expected)
    for vector_id, vector in zip(ids.tolist(), vectors):
        assert np.allclose(vector, expected[vector_id], atol=1e-6)
    for _ in range(20):
        query = unit_vectors(1, seed=int(rng.integers(1 << 30)))[0]
        assert index.nearest(query[None], 5)[1][0].tolist() == exact_nearest(query)


def test_the_gallery_trains_in_the_background_while_vectors_come_and_go(settings, monkeypatch):
    settings.APPROXIMATE_INDEX_ABOVE = 40
    training = HeldBack(monkeypatch, "retrained")
    stored = store(unit_vectors(41, seed=5))  # the 41st makes training due
    gallery = get_vector_index(MODEL)
    assert training.entered.wait(timeout=120)

    added = store(unit_vectors(5, seed=6))
    for vector in stored[:3] + added[:1]:
        vector.delete()
    gallery.sync()
    training.release.set()
    gallery.wait_for_upkeep()

    assert training.released and gallery.index.is_approximate
    present = {v.vector_id for v in stored[3:] + added[1:]}
    assert gallery.vector_ids() == present and gallery.index._index.ntotal == len(present)
    for vector in stored[3:] + added[1:]:
        assert nearest_owner(np.frombuffer(vector.embedding, np.float32)) == vector.owner_id


@pytest.mark.parametrize("approximate", [False, True])
def test_float16_round_trip_through_a_snapshot(tmp_path, approximate):
    vectors = unit_vectors(300, seed=7)
    index = FaissIndex(approximate_above=100 if approximate else None, nprobe=1 << 20, vector_type="float16")
    index.add(list(range(300)), vectors, [uuid.UUID(int=i + 1) for i in range(300)])
    index.reorganise()
    assert index.is_approximate == approximate
    index.save(tmp_path / "snap.npz", epoch=1, generation=4)

    loaded, watermark = FaissIndex.load(tmp_path / "snap.npz")
    assert FaissIndex.read_vector_type(tmp_path / "snap.npz") == "float16" == loaded.vector_type
    assert watermark == {"epoch": 1, "generation": 4}
    ids, stored = index_module._contents(loaded._index, DIMENSION)
    assert sorted(ids.tolist()) == list(range(300))
    assert np.abs(stored - vectors[ids]).max() < 1e-3  # fp16 keeps about 3 decimal digits
    assert [n.vector_id for n in loaded.search_people(vectors[17], 1)] == [17]


def test_a_snapshot_of_another_vector_type_is_not_loaded(settings):
    stored = store(unit_vectors(3, seed=8))
    gallery = get_vector_index(MODEL)
    gallery.sync()
    gallery.save()
    assert FaissIndex.read_vector_type(gallery.path) == "float32"

    settings.FAISS_VECTOR_TYPE = "float16"
    restarted = faiss_backend.FaissVectorIndex(MODEL)
    restarted.sync()
    restarted.wait_for_upkeep()

    assert restarted.index.vector_type == "float16"
    assert restarted.vector_ids() == {v.vector_id for v in stored}
    assert FaissIndex.read_vector_type(restarted.path) == "float16"  # written again in its own type


def test_check_names_an_unknown_vector_type(settings):
    from recognition.checks import faiss_vector_type_known

    assert faiss_vector_type_known(None) == []
    settings.FAISS_VECTOR_TYPE = "int8"
    assert [error.id for error in faiss_vector_type_known(None)] == ["recognition.E008"]


@pytest.mark.parametrize("search", ["search", "search_many"])
def test_the_index_is_read_only_under_the_gallery_lock(monkeypatch, search):
    """A worker runs several threads (gthread): one reading FAISS while another applies changes to
    it (sync, under the lock) could read a half-changed index."""
    vectors = unit_vectors(3, seed=11)
    store(vectors)
    gallery = get_vector_index(MODEL)
    gallery.sync()
    read_under_lock = []
    original = gallery.index.search_people

    def watched(*args, **kwargs):
        read_under_lock.append(gallery._lock._is_owned())
        return original(*args, **kwargs)

    monkeypatch.setattr(gallery.index, "search_people", watched)
    getattr(gallery, search)(vectors[0] if search == "search" else vectors[:2], 1)

    assert read_under_lock and all(read_under_lock)
