"""A search kept to some partitions (records' collections) never returns a vector of another, at
10,000 people per partition, even when every vector of the other partitions is nearer than any of
its own (synthetic vectors; the API test with real faces is tests/api/test_collections.py)."""

import uuid

import numpy as np
import pytest

from recognition.vectors.faiss_index import FaissIndex

DIMENSION = 128
PER_PARTITION = 10_000


def unit(vectors):
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def gallery():
    """Partition "a": random people. Partitions "b" and "c": near-copies of the query, so the
    100,000 nearest vectors overall hold none of "a" until 20,000 deep."""
    rng = np.random.default_rng(7)
    query = unit(rng.normal(size=(1, DIMENSION)))
    far = unit(rng.normal(size=(PER_PARTITION, DIMENSION)))
    near = unit(query + 0.05 * rng.normal(size=(2 * PER_PARTITION, DIMENSION)))
    vectors = np.concatenate([far, near])
    partitions = ["a"] * PER_PARTITION + ["b"] * PER_PARTITION + ["c"] * PER_PARTITION
    owners = [uuid.UUID(int=i + 1) for i in range(len(vectors))]
    return query, vectors, partitions, owners


def filled(gallery, **options):
    _, vectors, partitions, owners = gallery
    index = FaissIndex(**options)
    for start in range(0, len(vectors), 5000):
        stop = start + 5000
        index.add(list(range(start, stop)), vectors[start:stop], owners[start:stop], partitions[start:stop])
    index.reorganise()  # the gallery trains IVF on a background thread
    return index


def partition_of(gallery, neighbours):
    _, _, partitions, _ = gallery
    return {partitions[n.vector_id] for n in neighbours}


def test_a_partition_search_finds_the_partitions_own_nearest_exactly(gallery):
    query, vectors, _, owners = gallery
    index = filled(gallery)
    found = index.search_people(query, 10, partitions=["a"])
    expected = np.argsort(-(vectors[:PER_PARTITION] @ query[0]))[:10]
    assert [n.person_id for n in found] == [owners[i] for i in expected]
    # Unfiltered, the same index answers from the nearer partitions: the filter is what keeps them out.
    assert partition_of(gallery, index.search_people(query, 10)) <= {"b", "c"}


@pytest.mark.parametrize("partitions", [["a"], ["b"], ["a", "c"]])
def test_an_approximate_index_keeps_to_the_partitions_too(gallery, partitions):
    query, *_ = gallery
    index = filled(gallery, approximate_above=PER_PARTITION, nprobe=64)
    assert index.is_approximate
    found = index.search_people(query, 10, partitions=partitions)
    assert found and partition_of(gallery, found) <= set(partitions)


def test_partitions_survive_removal_and_a_snapshot(gallery, tmp_path):
    query, _, partitions, _ = gallery
    index = filled(gallery)
    index.search_people(query, 1, partitions=["b"])  # builds the member cache of "b"
    nearest_b = index.search_people(query, 1, partitions=["b"])[0].vector_id
    index.remove([nearest_b])
    assert nearest_b not in {n.vector_id for n in index.search_people(query, 50, partitions=["b"])}
    index.save(tmp_path / "index.npz", epoch=0, generation=1)
    loaded, _ = FaissIndex.load(tmp_path / "index.npz")
    found = loaded.search_people(query, 10, partitions=["a"])
    assert len(found) == 10 and partition_of(gallery, found) == {"a"}
    assert loaded.search_people(query, 5, partitions=["nobody"]) == []
