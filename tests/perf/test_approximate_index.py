"""The approximate (IVF) mode of the vector index, on synthetic clustered vectors (fast, no model)."""

import uuid

import numpy as np
import pytest

from recognition.vectors.faiss_index import RETRAIN_GROWTH, FaissIndex

DIMENSION = 32


def clustered(count, seed=0, clusters=100):
    """Unit vectors around `clusters` centres (the same for every seed), like photos around identities."""
    centres = np.random.default_rng(0).normal(size=(clusters, DIMENSION))
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, clusters, count)] + 0.5 * rng.normal(size=(count, DIMENSION))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def people(count):
    return [uuid.UUID(int=i + 1) for i in range(count)]


def filled(index, vectors, chunk=1000):
    """Add in chunks, as the gallery does when it loads from the database, then train IVF if due
    (the gallery does that on a background thread)."""
    owners = people(len(vectors))
    for start in range(0, len(vectors), chunk):
        stop = start + chunk
        index.add(list(range(start, min(stop, len(vectors)))), vectors[start:stop], owners[start:stop])
    index.reorganise()
    return index


def nearest_ids(index, queries, k=10):
    return index._index.search(queries, k)[1]


@pytest.fixture(scope="module")
def vectors():
    return clustered(6000)


def test_stays_exact_up_to_the_threshold(vectors):
    index = filled(FaissIndex(approximate_above=6000), vectors)
    assert not index.is_approximate
    assert len(index) == 6000


def test_turns_approximate_above_the_threshold_and_keeps_every_vector(vectors):
    index = filled(FaissIndex(approximate_above=3000, nprobe=8), vectors)
    assert index.is_approximate
    assert len(index) == 6000
    assert index.vector_ids == set(range(6000))
    assert index._index.ntotal == 6000


def test_recall_at_10_against_the_exact_index(vectors):
    exact = filled(FaissIndex(), vectors)
    approximate = filled(FaissIndex(approximate_above=3000, nprobe=16), vectors)
    queries = clustered(200, seed=1)
    found, expected = nearest_ids(approximate, queries), nearest_ids(exact, queries)
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found.tolist(), expected.tolist())])
    assert recall >= 0.99


def test_same_people_and_distances_as_the_exact_index(vectors):
    exact = filled(FaissIndex(), vectors)
    approximate = filled(FaissIndex(approximate_above=3000, nprobe=16), vectors)
    query = vectors[42]
    assert approximate.search_people(query, 1) == exact.search_people(query, 1)
    assert approximate.search_people(query, 1)[0].distance < 1e-5


def test_removed_vectors_are_never_returned(vectors):
    index = filled(FaissIndex(approximate_above=3000, nprobe=16), vectors)
    assert index.remove([42, 43, 99999]) == 2
    assert len(index) == 5998
    assert 42 not in nearest_ids(index, vectors[42:43])[0]


def test_adding_an_id_again_replaces_it(vectors):
    index = filled(FaissIndex(approximate_above=3000, nprobe=16), vectors)
    index.add([7], vectors[100:101], [uuid.UUID(int=7 + 1)])
    assert len(index) == 6000
    assert list(nearest_ids(index, vectors[100:101], 2)[0]) in ([7, 100], [100, 7])


def test_a_person_with_many_vectors_does_not_hide_the_others():
    index = FaissIndex(approximate_above=500, nprobe=64)
    alice, bob = uuid.UUID(int=1), uuid.UUID(int=2)
    base = clustered(1, seed=3)[0]
    rng = np.random.default_rng(4)
    close = base + 0.01 * rng.normal(size=(1200, DIMENSION)).astype(np.float32)
    close /= np.linalg.norm(close, axis=1, keepdims=True)
    index.add(list(range(1200)), close, [alice] * 1200)
    index.add([5000], base[None] * 0.9 + 0.1 * clustered(1, seed=5), [bob])
    index.reorganise()
    assert index.is_approximate
    assert [n.person_id for n in index.search_people(base, 2)] == [alice, bob]


def test_retrains_when_it_has_outgrown_its_clusters():
    vectors = clustered(RETRAIN_GROWTH * 1000 + 2000)
    index = filled(FaissIndex(approximate_above=999), vectors[:1000])
    lists = index._index.nlist
    filled_more = vectors[1000:]
    owners = people(len(vectors))[1000:]
    index.add(list(range(1000, len(vectors))), filled_more, owners)
    assert index.needs_training()
    index.reorganise()
    assert index._index.nlist > lists
    assert len(index) == len(vectors)


def test_snapshot_round_trip_keeps_the_approximate_index(vectors, tmp_path):
    index = filled(FaissIndex(approximate_above=3000, nprobe=16), vectors)
    index.save(tmp_path / "snap.npz", epoch=1, generation=9)
    loaded, watermark = FaissIndex.load(tmp_path / "snap.npz", approximate_above=3000, nprobe=4)
    assert watermark == {"epoch": 1, "generation": 9}
    assert loaded.is_approximate
    assert loaded._index.nprobe == 4  # the configured nprobe, not the one saved
    assert loaded.vector_ids == index.vector_ids
    assert loaded.search_people(vectors[5], 3) == index.search_people(vectors[5], 3)
