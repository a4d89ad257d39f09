"""The FAISS index on its own, with made-up unit vectors (fast, deterministic)."""

import uuid

import numpy as np

from recognition.vectors.faiss_index import FaissIndex


def unit(*values):
    vector = np.zeros(8, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


ALICE, BOB, CAROL = uuid.uuid4(), uuid.uuid4(), uuid.UUID(bytes=b"\x01" * 15 + b"\x00")


def make_index():
    index = FaissIndex()
    index.add(
        [0, 1, 2, 3],
        np.stack([unit(1, 0), unit(1, 0.1), unit(0, 1), unit(0.7, 0.7)]),
        [ALICE, ALICE, BOB, CAROL],
    )
    return index


def test_ranks_distinct_people_by_their_nearest_vector():
    found = make_index().search_people(unit(1, 0.05), top_k=3)
    assert [n.person_id for n in found] == [ALICE, CAROL, BOB]
    assert found[0].distance < 0.01
    assert all(a.distance <= b.distance for a, b in zip(found, found[1:]))


def test_top_k_people_even_when_one_person_has_many_vectors():
    index = FaissIndex()
    index.add(list(range(50)), np.stack([unit(1, i / 1000) for i in range(50)]), [ALICE] * 50)
    index.add([50], unit(0, 1)[None], [BOB])
    assert [n.person_id for n in index.search_people(unit(1, 0), top_k=2)] == [ALICE, BOB]


def test_removed_vectors_are_never_returned():
    index = make_index()
    assert index.remove([2, 99]) == 1
    assert BOB not in [n.person_id for n in index.search_people(unit(0, 1), top_k=5)]
    assert len(index) == 3


def test_adding_an_id_again_replaces_it():
    index = make_index()
    index.add([2], unit(1, 0)[None], [BOB])
    assert len(index) == 4
    assert index.search_people(unit(1, 0), top_k=1)[0].distance < 1e-6


def test_empty_index_finds_nobody():
    assert FaissIndex().search_people(unit(1), top_k=5) == []


def test_snapshot_round_trip(tmp_path):
    index = make_index()
    index.save(tmp_path / "snap.npz", epoch=3, generation=17)
    loaded, watermark = FaissIndex.load(tmp_path / "snap.npz")
    assert watermark == {"epoch": 3, "generation": 17}
    assert loaded.vector_ids == {0, 1, 2, 3}
    # CAROL's UUID ends in a zero byte: it must survive the trip unchanged.
    assert [n.person_id for n in loaded.search_people(unit(0.7, 0.7), 1)] == [CAROL]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_snapshot_written_before_the_index_came_first_in_the_file_still_loads(tmp_path):
    """Snapshots on disk at an upgrade: the FAISS index serialized inside the npz archive."""
    import faiss

    index = make_index()
    people = np.frombuffer(b"".join(p.bytes for p in [ALICE, ALICE, BOB, CAROL]), dtype=np.uint8)
    np.savez(
        tmp_path / "old.npz", index=faiss.serialize_index(index._index), ids=np.arange(4), people=people,
        partitions=np.array([""] * 4), epoch=np.int64(2), generation=np.int64(5),
    )
    loaded, watermark = FaissIndex.load(tmp_path / "old.npz")
    assert watermark == {"epoch": 2, "generation": 5} == FaissIndex.read_watermark(tmp_path / "old.npz")
    assert loaded.vector_type == "float32"
    assert [n.person_id for n in loaded.search_people(unit(0.7, 0.7), 1)] == [CAROL]
