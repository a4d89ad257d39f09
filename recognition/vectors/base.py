"""The interface every vector index implements, and the catching up they share.

The database is the source of truth: the stored `FaceVector` rows, and the change log every
addition and removal writes in its own transaction (`IndexState.generation` bumped, a
`RemovedVector` row per removal, `IndexState.epoch` bumped by a rebuild). An index only ever
applies that log, so it can be thrown away and rebuilt from the database at any time.
"""

from abc import ABC, abstractmethod
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from ..models import FaceVector, IndexState, RemovedVector
from .types import Neighbour

LOAD_CHUNK = 5000


@dataclass(frozen=True)
class Watermark:
    epoch: int
    generation: int


def database_watermark(model_key: str) -> Watermark:
    """Where the change log of this model key stands: one query."""
    state = IndexState.objects.filter(pk=model_key).values("epoch", "generation").first()
    return Watermark(state["epoch"], state["generation"]) if state else Watermark(0, 0)


class VectorIndex(ABC):
    """One model key's vector index: add, remove, the k nearest distinct owners, count, and the
    watermark (epoch, generation) of the change log it has applied."""

    backend: str

    def __init__(self, model_key: str):
        self.model_key = model_key

    # --- the index ------------------------------------------------------------------------------
    @abstractmethod
    def add(self, vector_ids, vectors: np.ndarray, owner_ids, partitions=None) -> None:
        """Add (or replace) vectors, each in its partition (default ""); replaying an addition is
        harmless."""

    @abstractmethod
    def remove(self, vector_ids) -> int:
        """Remove vectors by id; ids not present are ignored. Returns how many were present."""

    @abstractmethod
    def nearest_owners(self, vector, top_k: int, partitions=None) -> list[Neighbour]:
        """The `top_k` nearest distinct owners, each at the distance of their nearest vector,
        nearest first, from what the index holds now; with `partitions`, only among vectors of
        those partitions, however near a vector of another is (a filter applied while searching,
        never a filter of the results, which can starve)."""

    @abstractmethod
    def count(self) -> int:
        """Vectors in the index."""

    @abstractmethod
    def vector_ids(self) -> set[int]:
        """Every vector id in the index (check_integrity compares them with the database)."""

    def index_build(self):
        """What of the index a backend builds in the background is not built yet (Milvus's
        IndexBuild); None where the index grows with each addition (FAISS)."""
        return None

    @property
    @abstractmethod
    def applied(self) -> Watermark | None:
        """The change log's (epoch, generation) this index holds; None before it was ever loaded."""

    # --- keeping in step with the database -----------------------------------------------------
    @abstractmethod
    def sync(self) -> None:
        """Apply whatever the change log holds beyond `applied` (one query when nothing changed)."""

    @abstractmethod
    def reload(self) -> None:
        """Throw the index away and load it again from the database (after a rebuild)."""

    @abstractmethod
    def purge_removed(self) -> bool:
        """After an erasure: apply the removals now and leave no copy of a removed vector behind
        (a FAISS snapshot on disk, rows in Milvus). False when a copy may still be there (another
        process is writing the snapshot): the caller keeps the erasure pending and asks again."""

    def wait_for_upkeep(self) -> None:
        """Until the background work due when this is called (a FAISS snapshot, IVF training)
        is done: tests, benchmarks. Nothing by default."""

    def search(self, vector, top_k: int, partitions=None) -> list[Neighbour]:
        """Read-your-writes: first apply everything the database had when the search began."""
        self.sync()
        return self.nearest_owners(vector, top_k, partitions)

    def search_many(self, vectors, top_k: int, partitions=None) -> list[list[Neighbour]]:
        """`search` of each vector (the faces of a group photo, every stored photo for
        find_duplicates) after one catch-up with the database."""
        self.sync()
        return [self.nearest_owners(vector, top_k, partitions) for vector in vectors]

    # --- shared by the backends ----------------------------------------------------------------
    def load_all(self, upto: int) -> int:
        rows = (
            FaceVector.objects.filter(model_key=self.model_key, generation__lte=upto)
            .values_list("vector_id", "owner_id", "embedding", "partition")
            .order_by()
        )
        return self._add_rows(rows.iterator(chunk_size=LOAD_CHUNK))

    def apply_changes(self, after: int, upto: int) -> int:
        """The additions and removals logged in (after, upto]. Vector ids are never reused, so
        their order does not matter, and applying a change twice is harmless."""
        removed = RemovedVector.objects.filter(
            model_key=self.model_key, generation__gt=after, generation__lte=upto
        ).values_list("vector_id", flat=True)
        added = FaceVector.objects.filter(
            model_key=self.model_key, generation__gt=after, generation__lte=upto
        ).values_list("vector_id", "owner_id", "embedding", "partition")
        removed = list(removed)
        count = self._add_rows(added.iterator(chunk_size=LOAD_CHUNK)) + self.remove(removed)
        if removed:
            self.removed_applied(upto)
        return count

    def removed_applied(self, generation: int) -> None:
        """Called once removals up to `generation` are applied: a copy kept elsewhere (a snapshot)
        must not outlive them."""

    def _add_rows(self, rows) -> int:
        # Closed whatever happens: a load stopped midway (Milvus timing out, say) would otherwise
        # leave PostgreSQL's server-side cursor to the garbage collector (the error's traceback
        # holds it), which may close it inside a later transaction of this connection and abort
        # that one, failing an unrelated request.
        with closing(rows):
            total = 0
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) == LOAD_CHUNK:
                    total += self._add_batch(batch)
                    batch = []
            return total + self._add_batch(batch)

    def _add_batch(self, rows) -> int:
        if not rows:
            return 0
        vectors = np.stack([np.frombuffer(bytes(row[2]), dtype=np.float32) for row in rows])
        self.add([row[0] for row in rows], vectors, [row[1] for row in rows], [row[3] for row in rows])
        return len(rows)
