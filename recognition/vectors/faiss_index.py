"""An in-memory FAISS index of one embedding model, with the person each vector belongs to.

Vectors are L2-normalised, so inner product is cosine similarity; distances reported are cosine
distances (1 - similarity). Knows nothing of the database: recognition/vectors/indexes.py keeps it in step.

The index is exact (a flat scan) until it holds more than `approximate_above` vectors; then it can
be rebuilt as a FAISS IVF index, which scans only the `nprobe` nearest of its clusters per query.
bench/scale.py measures both (bench/RESULTS.md, Scale): a flat scan of 1M of the default model's
512-d vectors is a pass over 2 GB within 1.7x of the memory-bandwidth bound (131 ms on one
thread); IVF with 2,000 lists at nprobe 384 is 4.6x faster but finds only 77% of the same ten
nearest on that (synthetic, cluster-free) gallery, which is why the service stays exact unless
APPROXIMATE_INDEX_ABOVE is set.

Vectors are stored as float32, or with `vector_type="float16"` as FAISS's fp16 scalar quantizer:
half the memory (bench/RESULTS.md, Issue 13, for what it costs in accuracy and speed).

Long work reads a frozen index: `freeze()` makes the FAISS index immutable and sends every change
to a small exact side index (additions) and a set of hidden ids (removals) that searches take into
account, so a snapshot can be written, or IVF clusters trained on the frozen contents, while
searches and changes go on; `thaw()` folds the changes into the index, or into the one trained
meanwhile. recognition/vectors/faiss_backend.py does that work on a background thread.
"""

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .types import Neighbour


# IVF layout: about IVF_LISTS_PER_SQRT * sqrt(n) clusters, trained by k-means on at most
# TRAINING_POINTS_PER_LIST vectors per cluster and at least the 39 FAISS asks for, for
# IVF_TRAINING_ITERATIONS.
IVF_LISTS_PER_SQRT = 2
MIN_TRAINING_POINTS_PER_LIST = 39
TRAINING_POINTS_PER_LIST = 50
IVF_TRAINING_ITERATIONS = 10
# Clusters trained on n vectors still serve a larger index well; retrain once it has grown this much.
RETRAIN_GROWTH = 4
# 2,000 lists at 1M vectors: recall@10 0.99 with dlib's 128-d vectors, 0.77 with the default
# model's 512-d ones (synthetic galleries, bench/RESULTS.md).
DEFAULT_NPROBE = 384
VECTOR_TYPES = ("float32", "float16")
# Arrays of a snapshot that are not its watermark.
SNAPSHOT_CONTENTS = ("index", "index_size", "ids", "people", "partitions", "vector_type")


def _flat(dimension: int, vector_type: str):
    if vector_type == "float16":
        return faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexFlatIP(dimension)


def _ivf(dimension: int, lists: int, vector_type: str):
    quantizer = faiss.IndexFlatIP(dimension)
    if vector_type == "float16":
        # Not by residual: each code is then the vector itself in fp16, which _contents can read back.
        return faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False
        )
    return faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)


def _search(index, queries: np.ndarray, k: int, selected) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's (similarities, ids) of `index`, or nothing found when there is no index.

    One query is searched on one thread. FAISS would split its scan over every core, but a
    server runs a worker process per core: the threads then wait for one another, and a
    search of 100k vectors took 49 ms instead of 2.5 ms on a busy machine (bench/RESULTS.md).
    """
    if index is None or not index.ntotal:
        return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
    params = None
    if selected is not None:
        selector = faiss.IDSelectorBatch(selected)
        if isinstance(index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        params._selector = selector  # the SWIG object does not keep it alive on its own
    if len(queries) > 1:
        return index.search(queries, k, params=params)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)


def _contents(index, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """Every stored (id, vector) of a FAISS index, read straight from the flat array or the
    inverted lists, as float32."""
    if index is None:
        return np.zeros(0, np.int64), np.zeros((0, dimension or 0), np.float32)
    if isinstance(index, faiss.IndexIDMap2):
        ids = faiss.vector_to_array(index.id_map)
        return ids, faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)
    lists = index.invlists
    ids, codes = [], []
    for number in range(index.nlist):
        size = lists.list_size(number)
        if size:
            ids.append(faiss.rev_swig_ptr(lists.get_ids(number), size).copy())
            codes.append(faiss.rev_swig_ptr(lists.get_codes(number), size * index.code_size).copy())
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, dimension), np.float32)
    stored = np.float16 if isinstance(index, faiss.IndexIVFScalarQuantizer) else np.float32
    vectors = np.concatenate(codes).view(stored).astype(np.float32, copy=False).reshape(-1, dimension)
    return np.concatenate(ids), vectors


class FaissIndex:
    def __init__(
        self,
        dimension: int | None = None,
        approximate_above: int | None = None,
        nprobe: int = DEFAULT_NPROBE,
        vector_type: str = "float32",
    ):
        if vector_type not in VECTOR_TYPES:
            raise ValueError(f"vector_type must be one of {VECTOR_TYPES}, not {vector_type!r}")
        self.dimension = dimension
        # None: always exact. Otherwise the size above which the index turns into IVF.
        self.approximate_above = approximate_above
        self.nprobe = nprobe
        self.vector_type = vector_type
        self._index = None
        self._trained_size = 0  # vectors the IVF clusters were trained on (0: flat)
        self._person_of: dict[int, uuid.UUID] = {}
        self._partition_of: dict[int, str] = {}
        self._members_of: dict[str, np.ndarray] = {}  # partition -> its vector ids, built when searched
        # While frozen (see the module's docstring): the vectors added since, and the ids removed.
        self._added = None
        self._hidden: set[int] = set()
        self._frozen = False
        if dimension:
            self._index = faiss.IndexIDMap2(_flat(dimension, vector_type))

    def __len__(self) -> int:
        added = self._added.ntotal if self._added is not None else 0
        return (self._index.ntotal if self._index is not None else 0) + added - len(self._hidden)

    def __contains__(self, vector_id: int) -> bool:
        return vector_id in self._person_of

    @property
    def vector_ids(self) -> set[int]:
        return set(self._person_of)

    @property
    def is_approximate(self) -> bool:
        return self._trained_size > 0

    def add(self, vector_ids, vectors, person_ids, partitions=None) -> None:
        """`partitions`: the group of each vector (default ""), which `search_people` can keep to."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(vector_ids), -1)
        if not len(vector_ids):
            return
        if self.dimension is None:
            self.dimension = vectors.shape[1]
        ids = np.asarray(vector_ids, dtype=np.int64)
        # An id already present (a replayed change) would be stored twice: replace it instead.
        self.remove([i for i in ids.tolist() if i in self._person_of])
        if self._frozen:
            if self._added is None:
                self._added = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
            self._added.add_with_ids(vectors, ids)
        else:
            if self._index is None:
                self._index = faiss.IndexIDMap2(_flat(self.dimension, self.vector_type))
            self._index.add_with_ids(vectors, ids)
        partitions = [""] * len(ids) if partitions is None else partitions
        for vector_id, person_id, partition in zip(ids.tolist(), person_ids, partitions):
            # The database hands over UUIDs already; parsing each again costs seconds per 100k.
            self._person_of[vector_id] = person_id if isinstance(person_id, uuid.UUID) else uuid.UUID(str(person_id))
            self._partition_of[vector_id] = partition
            self._members_of.pop(partition, None)

    def remove(self, vector_ids) -> int:
        """Remove many ids in one pass (each remove_ids call scans the whole index)."""
        present = [int(i) for i in vector_ids if int(i) in self._person_of]
        if not present:
            return 0
        if self._frozen:
            added = self._added_while_frozen() & set(present)
            if added:
                self._added.remove_ids(np.fromiter(added, np.int64, len(added)))
            self._hidden.update(i for i in present if i not in added)
        else:
            self._index.remove_ids(np.asarray(present, dtype=np.int64))
        for vector_id in present:
            del self._person_of[vector_id]
            self._members_of.pop(self._partition_of.pop(vector_id), None)
        return len(present)

    def _added_while_frozen(self) -> set[int]:
        if self._added is None or not self._added.ntotal:
            return set()
        return set(faiss.vector_to_array(self._added.id_map).tolist())

    def nearest(self, queries: np.ndarray, k: int, selected=None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's (similarities, ids) of the k nearest vectors of each row of `queries` (float32),
        among the ids `selected` if given; while frozen, with the changes made since."""
        if not self._frozen:
            return _search(self._index, queries, k, selected)
        frozen_k = min(k + len(self._hidden), self._index.ntotal) if self._index is not None else k
        similarities, ids = _search(self._index, queries, max(frozen_k, 1), selected)
        if self._hidden:
            hidden = np.isin(ids, np.fromiter(self._hidden, np.int64, len(self._hidden)))
            similarities[hidden], ids[hidden] = -np.inf, -1
        added_similarities, added_ids = _search(self._added, queries, k, selected)
        similarities = np.concatenate([similarities, added_similarities], axis=1)
        ids = np.concatenate([ids, added_ids], axis=1)
        order = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(similarities, order, 1), np.take_along_axis(ids, order, 1)

    def search_people(self, vector, top_k: int, partitions=None) -> list[Neighbour]:
        """The `top_k` nearest distinct people, each at the distance of their nearest vector; with
        `partitions`, only among the vectors of those partitions.

        The partitions are a FAISS selector applied while scanning, not a filter of the results:
        the k nearest of the partition are found however many nearer vectors other partitions hold
        (a post-filter of the k nearest overall can come back empty), from one index, so a
        partition costs no memory of its own (bench/RESULTS.md, "Collections").
        """
        selected = None if partitions is None else self._members(partitions)
        total = len(self) if selected is None else len(selected)
        if not total or top_k < 1:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        k = min(total, top_k * 4)
        while True:
            similarities, ids = self.nearest(query, k, selected)
            best: dict[uuid.UUID, Neighbour] = {}
            for similarity, vector_id in zip(similarities[0].tolist(), ids[0].tolist()):
                if vector_id < 0:
                    continue
                person_id = self._person_of[vector_id]
                if person_id not in best:
                    distance = max(0.0, 1.0 - similarity)
                    best[person_id] = Neighbour(person_id, vector_id, distance)
            # A person with many photos can fill the k nearest; widen until top_k people are seen,
            # or until the search returned fewer than k (IVF: the probed clusters hold no more).
            if len(best) >= top_k or k >= total or ids[0][-1] < 0:
                return list(best.values())[:top_k]
            k = min(total, k * 4)

    def _members(self, partitions) -> np.ndarray:
        missing = {p for p in partitions if p not in self._members_of}
        if missing:
            # One pass over the index rebuilds the partitions changed since they were last searched.
            found = {p: [] for p in missing}
            for vector_id, partition in self._partition_of.items():
                if partition in found:
                    found[partition].append(vector_id)
            self._members_of.update({p: np.asarray(ids, dtype=np.int64) for p, ids in found.items()})
        return np.concatenate([self._members_of[p] for p in set(partitions)] or [np.zeros(0, np.int64)])

    # --- long work on a frozen index -------------------------------------------------------------
    def freeze(self) -> "FrozenIndex":
        """Hold the FAISS index still for work that reads it without the caller's lock; changes
        go on beside it until `thaw`. Cheap: the person and partition maps are copied (a few
        tens of ms at a million vectors), the vectors are not."""
        if self._frozen:
            raise RuntimeError("the index is frozen already")
        self._frozen = True
        return FrozenIndex(
            self._index, dict(self._person_of), dict(self._partition_of), self.dimension, self.vector_type, self.nprobe
        )

    def thaw(self, retrained: "Retrained | None" = None) -> None:
        """Apply the changes made while frozen, to the frozen index or to `retrained` (built from
        the frozen contents), which then replaces it."""
        if retrained is not None:
            self._index, self._trained_size = retrained.index, retrained.trained_size
        if self._hidden:
            self._index.remove_ids(np.fromiter(self._hidden, np.int64, len(self._hidden)))
        if self._added is not None and self._added.ntotal:
            ids, vectors = _contents(self._added, self.dimension)
            if self._index is None:
                self._index = faiss.IndexIDMap2(_flat(self.dimension, self.vector_type))
            self._index.add_with_ids(vectors, ids)
        self._added, self._hidden, self._frozen = None, set(), False

    def needs_training(self) -> bool:
        """Above `approximate_above` and flat, or grown RETRAIN_GROWTH times since trained."""
        size = len(self)
        if self.approximate_above is None or size <= self.approximate_above:
            return False
        return not self.is_approximate or size >= RETRAIN_GROWTH * self._trained_size

    def reorganise(self) -> None:
        """Train IVF now if `needs_training` (the service does it on a background thread)."""
        if self.needs_training():
            self.thaw(self.freeze().retrained())

    # --- persistence --------------------------------------------------------------------------
    def save(self, path: Path, **watermark) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        frozen = self.freeze()
        try:
            os.replace(frozen.write(path, **watermark), path)
        finally:
            self.thaw()

    @classmethod
    def load(cls, path: Path, **options) -> tuple["FaissIndex", dict]:
        """`options` are the constructor's but `vector_type`, which is the snapshot's."""
        with open(path, "rb") as handle, _archive(handle) as data:
            index = cls(**options, vector_type=_vector_type(data))
            if "index" in data.files:  # written before the index went first in the file
                index._index = faiss.deserialize_index(data["index"]) if data["index"].size else None
            elif int(data["index_size"]):
                # From this open file, not its path: a newer snapshot may be renamed over it meanwhile.
                handle.seek(0)
                index._index = faiss.read_index(faiss.PyCallbackIOReader(handle.read))
            if index._index is not None:
                index.dimension = index._index.d
                if not isinstance(index._index, faiss.IndexIDMap2):
                    index._index.nprobe = index.nprobe
                    index._trained_size = index._index.ntotal
            ids = data["ids"].tolist()
            index._person_of = {int(i): uuid.UUID(bytes=p.tobytes()) for i, p in zip(ids, data["people"].reshape(-1, 16))}
            index._partition_of = dict(zip(ids, data["partitions"].tolist()))
            watermark = _watermark(data)
        return index, watermark

    @staticmethod
    def read_watermark(path: Path) -> dict:
        """Only the watermark of a snapshot: milliseconds, where `load` of 1M vectors takes seconds."""
        with open(path, "rb") as handle, _archive(handle) as data:
            return _watermark(data)

    @staticmethod
    def read_vector_type(path: Path) -> str:
        with open(path, "rb") as handle, _archive(handle) as data:
            return _vector_type(data)


@dataclass(frozen=True)
class Retrained:
    index: object  # the FAISS IVF index
    trained_size: int


@dataclass(frozen=True)
class FrozenIndex:
    """What a frozen FaissIndex held when it was frozen: safe to read from another thread."""

    index: object  # the FAISS index, unchanged until thawed
    person_of: dict
    partition_of: dict
    dimension: int | None
    vector_type: str
    nprobe: int

    def retrained(self) -> Retrained:
        """An IVF index of these contents, about IVF_LISTS_PER_SQRT * sqrt(n) lists (seconds to
        a minute at a million vectors)."""
        ids, vectors = _contents(self.index, self.dimension)
        size = len(ids)
        lists = max(1, int(min(IVF_LISTS_PER_SQRT * np.sqrt(size), size / MIN_TRAINING_POINTS_PER_LIST)))
        sample = vectors
        if size > lists * TRAINING_POINTS_PER_LIST:
            chosen = np.random.default_rng(0).choice(size, lists * TRAINING_POINTS_PER_LIST, replace=False)
            sample = vectors[np.sort(chosen)]
        ivf = _ivf(self.dimension, lists, self.vector_type)
        ivf.cp.niter = IVF_TRAINING_ITERATIONS
        ivf.cp.max_points_per_centroid = TRAINING_POINTS_PER_LIST
        ivf.train(sample)
        ivf.add_with_ids(vectors, ids)
        ivf.nprobe = self.nprobe
        return Retrained(ivf, size)

    def write(self, path: Path, **watermark) -> Path:
        """A snapshot in a new temporary file beside `path` (fsynced); the caller renames it over
        `path`, or deletes it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        ids = np.fromiter(self.person_of.keys(), dtype=np.int64, count=len(self.person_of))
        # Raw uint8 rows, not numpy's "S16": that strips trailing zero bytes from a UUID.
        people = np.frombuffer(b"".join(p.bytes for p in self.person_of.values()), dtype=np.uint8)
        partitions = np.array([self.partition_of[i] for i in self.person_of], dtype=np.str_)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        try:
            # FAISS writes its index straight from memory into the file: serialize_index would
            # first copy it twice (two extra 2 GB buffers at a million vectors, and most of the
            # write's time). The rest follows as an npz archive, which zip readers find from the
            # end of the file.
            if self.index is not None:
                faiss.write_index(self.index, tmp)
            with open(tmp, "r+b") as handle:
                handle.seek(0, os.SEEK_END)
                np.savez(
                    handle, index_size=np.int64(handle.tell()), ids=ids, people=people, partitions=partitions,
                    vector_type=np.str_(self.vector_type), **{k: np.int64(v) for k, v in watermark.items()},
                )
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Path(tmp)


def _archive(handle):
    """The npz archive of a snapshot, after the FAISS index that starts the file (np.load would
    take the file for a .npy by its first bytes)."""
    return np.lib.npyio.NpzFile(handle, allow_pickle=False)


def _vector_type(data) -> str:
    # Snapshots written before the float16 option hold float32 vectors.
    return str(data["vector_type"]) if "vector_type" in data.files else "float32"


def _watermark(data) -> dict:
    return {k: int(data[k]) for k in data.files if k not in SNAPSHOT_CONTENTS}
