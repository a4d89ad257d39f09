"""An in-memory FAISS index of one embedding model, with the person each vector belongs to.

Vectors are L2-normalised, so inner product is cosine similarity; distances reported are cosine
distances (1 - similarity). Knows nothing of the database: recognition/gallery.py keeps it in step.

The index is exact (a flat scan) until it holds more than `approximate_above` vectors; then it is
rebuilt as a FAISS IVF index, which scans only the `nprobe` nearest of its clusters per query.
bench/scale.py measures both (bench/RESULTS.md): a flat scan of 1M vectors is a pass over 512 MB
within 1.6x of the memory-bandwidth bound (about 30 ms), and IVF with 2,000 lists at nprobe 384
returns 99% of the same ten nearest about 5x faster.
"""

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np


@dataclass(frozen=True)
class Neighbour:
    person_id: uuid.UUID
    vector_id: int
    distance: float


# IVF layout: about IVF_LISTS_PER_SQRT * sqrt(n) clusters, trained by k-means on at most
# TRAINING_POINTS_PER_LIST vectors per cluster and at least the 39 FAISS asks for, for
# IVF_TRAINING_ITERATIONS.
IVF_LISTS_PER_SQRT = 2
MIN_TRAINING_POINTS_PER_LIST = 39
TRAINING_POINTS_PER_LIST = 50
IVF_TRAINING_ITERATIONS = 10
# Clusters trained on n vectors still serve a larger index well; retrain once it has grown this much.
RETRAIN_GROWTH = 4
DEFAULT_NPROBE = 384  # recall@10 0.99 at 1M vectors (2,000 lists)


class VectorIndex:
    def __init__(
        self, dimension: int | None = None, approximate_above: int | None = None, nprobe: int = DEFAULT_NPROBE
    ):
        self.dimension = dimension
        # None: always exact. Otherwise the size above which the index turns into IVF.
        self.approximate_above = approximate_above
        self.nprobe = nprobe
        self._index = None
        self._trained_size = 0  # vectors the IVF clusters were trained on (0: flat)
        self._person_of: dict[int, uuid.UUID] = {}
        self._partition_of: dict[int, str] = {}
        self._members_of: dict[str, np.ndarray] = {}  # partition -> its vector ids, built when searched
        if dimension:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return self._index.ntotal if self._index is not None else 0

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
        if self._index is None:
            self.dimension = vectors.shape[1]
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        ids = np.asarray(vector_ids, dtype=np.int64)
        # An id already present (a replayed change) would be stored twice: replace it instead.
        self.remove([i for i in ids.tolist() if i in self._person_of])
        self._index.add_with_ids(vectors, ids)
        partitions = [""] * len(ids) if partitions is None else partitions
        for vector_id, person_id, partition in zip(ids.tolist(), person_ids, partitions):
            # The database hands over UUIDs already; parsing each again costs seconds per 100k.
            self._person_of[vector_id] = person_id if isinstance(person_id, uuid.UUID) else uuid.UUID(str(person_id))
            self._partition_of[vector_id] = partition
            self._members_of.pop(partition, None)
        self._reorganise()

    def remove(self, vector_ids) -> int:
        """Remove many ids in one pass (each remove_ids call scans the whole index)."""
        present = [int(i) for i in vector_ids if int(i) in self._person_of]
        if not present:
            return 0
        removed = self._index.remove_ids(np.asarray(present, dtype=np.int64))
        for vector_id in present:
            del self._person_of[vector_id]
            self._members_of.pop(self._partition_of.pop(vector_id), None)
        return int(removed)

    def nearest(self, queries: np.ndarray, k: int, params=None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's (similarities, ids) of the k nearest vectors of each row of `queries` (float32).

        One query is searched on one thread. FAISS would split its scan over every core, but a
        server runs a worker process per core: the threads then wait for one another, and a
        search of 100k vectors took 49 ms instead of 2.5 ms on a busy machine (bench/RESULTS.md).
        """
        if len(queries) > 1:
            return self._index.search(queries, k, params=params)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._index.search(queries, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)

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
        params = None if selected is None else self._search_parameters(selected)
        k = min(total, top_k * 4)
        while True:
            similarities, ids = self.nearest(query, k, params)
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

    def _search_parameters(self, selected: np.ndarray):
        selector = faiss.IDSelectorBatch(selected)
        if self.is_approximate:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        params._selector = selector  # the SWIG object does not keep it alive on its own
        return params

    # --- approximate index --------------------------------------------------------------------
    def _reorganise(self) -> None:
        """Turn into IVF above `approximate_above`; retrain when the index has outgrown its clusters."""
        size = len(self)
        if self.approximate_above is None or size <= self.approximate_above:
            return
        if self.is_approximate and size < RETRAIN_GROWTH * self._trained_size:
            return
        ids, vectors = self._contents()
        lists = max(1, int(min(IVF_LISTS_PER_SQRT * np.sqrt(size), size / MIN_TRAINING_POINTS_PER_LIST)))
        sample = vectors
        if size > lists * TRAINING_POINTS_PER_LIST:
            chosen = np.random.default_rng(0).choice(size, lists * TRAINING_POINTS_PER_LIST, replace=False)
            sample = vectors[np.sort(chosen)]
        quantizer = faiss.IndexFlatIP(self.dimension)
        ivf = faiss.IndexIVFFlat(quantizer, self.dimension, lists, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = IVF_TRAINING_ITERATIONS
        ivf.cp.max_points_per_centroid = TRAINING_POINTS_PER_LIST
        ivf.train(sample)
        ivf.add_with_ids(vectors, ids)
        ivf.nprobe = self.nprobe
        self._index = ivf
        self._trained_size = size

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored (id, vector), read straight from the flat array or the inverted lists."""
        index = self._index
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
        vectors = np.concatenate(codes).view(np.float32).reshape(-1, self.dimension)
        return np.concatenate(ids), vectors

    # --- persistence --------------------------------------------------------------------------
    def save(self, path: Path, **watermark) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        ids = np.fromiter(self._person_of.keys(), dtype=np.int64, count=len(self._person_of))
        # Raw uint8 rows, not numpy's "S16": that strips trailing zero bytes from a UUID.
        people = np.frombuffer(b"".join(p.bytes for p in self._person_of.values()), dtype=np.uint8)
        partitions = np.array([self._partition_of[i] for i in self._person_of], dtype=np.str_)
        blob = faiss.serialize_index(self._index) if self._index is not None else np.zeros(0, np.uint8)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, index=blob, ids=ids, people=people, partitions=partitions, **{k: np.int64(v) for k, v in watermark.items()})
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, **options) -> tuple["VectorIndex", dict]:
        """`options` are the constructor's: `approximate_above` and `nprobe`."""
        with np.load(path, allow_pickle=False) as data:
            index = cls(**options)
            if data["index"].size:
                index._index = faiss.deserialize_index(data["index"])
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
        with np.load(path, allow_pickle=False) as data:
            return _watermark(data)


def _watermark(data) -> dict:
    return {k: int(data[k]) for k in data.files if k not in ("index", "ids", "people", "partitions")}
