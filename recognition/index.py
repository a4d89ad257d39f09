"""An in-memory FAISS index of one embedding model, with the person each vector belongs to.

Vectors are L2-normalised, so inner product is cosine similarity; distances reported are cosine
distances (1 - similarity). Knows nothing of the database: recognition/gallery.py keeps it in step.
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


class VectorIndex:
    def __init__(self, dimension: int | None = None):
        self.dimension = dimension
        self._index = None
        self._person_of: dict[int, uuid.UUID] = {}
        if dimension:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return self._index.ntotal if self._index is not None else 0

    def __contains__(self, vector_id: int) -> bool:
        return vector_id in self._person_of

    @property
    def vector_ids(self) -> set[int]:
        return set(self._person_of)

    def add(self, vector_ids, vectors, person_ids) -> None:
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
        for vector_id, person_id in zip(ids.tolist(), person_ids):
            self._person_of[vector_id] = uuid.UUID(str(person_id))

    def remove(self, vector_ids) -> int:
        """Remove many ids in one pass (each remove_ids call scans the whole index)."""
        present = [int(i) for i in vector_ids if int(i) in self._person_of]
        if not present:
            return 0
        removed = self._index.remove_ids(np.asarray(present, dtype=np.int64))
        for vector_id in present:
            del self._person_of[vector_id]
        return int(removed)

    def search_people(self, vector, top_k: int) -> list[Neighbour]:
        """The `top_k` nearest distinct people, each at the distance of their nearest vector."""
        total = len(self)
        if not total or top_k < 1:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        k = min(total, top_k * 4)
        while True:
            similarities, ids = self._index.search(query, k)
            best: dict[uuid.UUID, Neighbour] = {}
            for similarity, vector_id in zip(similarities[0].tolist(), ids[0].tolist()):
                if vector_id < 0:
                    continue
                person_id = self._person_of[vector_id]
                if person_id not in best:
                    distance = max(0.0, 1.0 - similarity)
                    best[person_id] = Neighbour(person_id, vector_id, distance)
            # A person with many photos can fill the k nearest; widen until top_k people are seen.
            if len(best) >= top_k or k >= total:
                return list(best.values())[:top_k]
            k = min(total, k * 4)

    # --- persistence --------------------------------------------------------------------------
    def save(self, path: Path, **watermark) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        ids = np.fromiter(self._person_of.keys(), dtype=np.int64, count=len(self._person_of))
        # Raw uint8 rows, not numpy's "S16": that strips trailing zero bytes from a UUID.
        people = np.frombuffer(b"".join(p.bytes for p in self._person_of.values()), dtype=np.uint8)
        blob = faiss.serialize_index(self._index) if self._index is not None else np.zeros(0, np.uint8)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, index=blob, ids=ids, people=people, **{k: np.int64(v) for k, v in watermark.items()})
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> tuple["VectorIndex", dict]:
        with np.load(path, allow_pickle=False) as data:
            index = cls()
            if data["index"].size:
                index._index = faiss.deserialize_index(data["index"])
                index.dimension = index._index.d
            index._person_of = {
                int(i): uuid.UUID(bytes=p.tobytes())
                for i, p in zip(data["ids"].tolist(), data["people"].reshape(-1, 16))
            }
            watermark = {k: int(data[k]) for k in data.files if k not in ("index", "ids", "people")}
        return index, watermark
