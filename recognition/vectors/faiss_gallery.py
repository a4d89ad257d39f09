"""VECTOR_BACKEND=faiss (the default): every process holds its own FAISS index of each model key,
in memory, and catches up with the database's change log before each search. Snapshots on disk
(DATA_DIR/index/) let a new process start from a recent copy and replay only what came after it."""

import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.utils.text import slugify
from filelock import FileLock

from ..index import VectorIndex
from ..models import IndexState
from .base import VectorGallery, Watermark, database_watermark

logger = logging.getLogger(__name__)

# A process writes its index to disk after this many changes, so a new worker starts from a
# recent snapshot and replays only what came after it.
SAVE_EVERY_CHANGES = 1000


def _index_options() -> dict:
    return {"approximate_above": settings.APPROXIMATE_INDEX_ABOVE, "nprobe": settings.IVF_NPROBE}


class FaissGallery(VectorGallery):
    """One model key's index in this process."""

    backend = "faiss"

    def __init__(self, model_key: str):
        super().__init__(model_key)
        self.index = VectorIndex(**_index_options())
        self.generation = 0
        self.epoch = -1  # never loaded
        self.changes_since_save = 0
        self._lock = threading.RLock()

    # --- the index ------------------------------------------------------------------------------
    def add(self, vector_ids, vectors, owner_ids, partitions=None) -> None:
        self.index.add(vector_ids, vectors, owner_ids, partitions)

    def remove(self, vector_ids) -> int:
        return self.index.remove(vector_ids)

    def nearest_owners(self, vector, top_k: int, partitions=None):
        return self.index.search_people(vector, top_k, partitions)

    def count(self) -> int:
        return len(self.index)

    def vector_ids(self) -> set[int]:
        return self.index.vector_ids

    @property
    def applied(self) -> Watermark | None:
        return Watermark(self.epoch, self.generation) if self.epoch >= 0 else None

    # --- keeping in step ------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(settings.INDEX_DIR) / f"{slugify(self.model_key.replace(':', '-'))}.npz"

    def _snapshot_lock(self) -> FileLock:
        return FileLock(str(self.path) + ".lock", timeout=60)

    def search(self, vector, top_k: int, partitions=None):
        with self._lock:
            return super().search(vector, top_k, partitions)

    def sync(self) -> None:
        """Catch up with the database: one query when nothing changed."""
        with self._lock:
            state = database_watermark(self.model_key)
            # A generation below ours means a transaction this process saw was rolled back.
            if state.epoch != self.epoch or state.generation < self.generation:
                self._reload(state)
            elif state.generation > self.generation:
                self.changes_since_save += self.apply_changes(self.generation, state.generation)
                self.generation = state.generation
            if self.changes_since_save >= SAVE_EVERY_CHANGES:
                self.save()

    def reload(self) -> None:
        with self._lock:
            self.epoch = -1
            self.path.unlink(missing_ok=True)
            self.sync()

    def purge_removed(self) -> None:
        """No snapshot on disk may keep a removed vector: forget it, and drop the vectors from
        this process's index now rather than at its next search."""
        self.forget_snapshot()
        self.sync()

    def _reload(self, state: Watermark) -> None:
        snapshot = self._read_snapshot(state)
        if snapshot is not None:
            self.index, self.generation = snapshot
            self.epoch = state.epoch
            self.changes_since_save += self.apply_changes(self.generation, state.generation)
            self.generation = state.generation
        else:
            self.rebuild_from_database(state)
            self.save()

    def _read_snapshot(self, state: Watermark):
        if not self.path.exists():
            return None
        try:
            # The watermark alone first: loading a snapshot of another epoch only to drop it
            # would cost seconds at a million vectors.
            watermark = VectorIndex.read_watermark(self.path)
            if watermark.get("epoch") != state.epoch or watermark.get("generation", 1 << 62) > state.generation:
                return None
            index, watermark = VectorIndex.load(self.path, **_index_options())
        except Exception:  # a damaged snapshot is only a cache: rebuild from the database
            logger.exception("Ignoring unreadable index snapshot %s", self.path)
            return None
        return index, watermark["generation"]

    def rebuild_from_database(self, state: Watermark) -> None:
        started = time.perf_counter()
        self.index = VectorIndex(**_index_options())
        self.load_all(state.generation)
        self.generation, self.epoch = state.generation, state.epoch
        logger.info(
            "Loaded %d vectors of %s from the database in %.0f ms",
            len(self.index), self.model_key, (time.perf_counter() - started) * 1000,
        )

    def save(self) -> None:
        """Snapshot under a file lock, only while this index is what the database says.

        A stale index may still hold vectors deleted since (forget_snapshot removed the old file
        for that reason): writing it would put erased biometric data back on disk.
        """
        with self._lock, self._snapshot_lock():
            state = IndexState.objects.filter(pk=self.model_key).values("generation", "epoch").first()
            if state and (state["epoch"], state["generation"]) != (self.epoch, self.generation):
                return
            if self.path.exists():
                try:
                    watermark = VectorIndex.read_watermark(self.path)
                    if watermark.get("epoch") == self.epoch and watermark.get("generation", -1) >= self.generation:
                        self.changes_since_save = 0
                        return
                except Exception:
                    logger.warning("Overwriting unreadable index snapshot %s", self.path)
            self.index.save(self.path, epoch=self.epoch, generation=self.generation)
            self.changes_since_save = 0

    def removed_applied(self, generation: int) -> None:
        # The deleting process forgot its own snapshot, but a host with a DATA_DIR of its own
        # learns of the erasure only here: no snapshot it keeps may hold the removed vectors.
        self.forget_snapshot(older_than=generation)

    def forget_snapshot(self, older_than: int | None = None) -> None:
        """After an erasure: no snapshot on disk may keep the deleted vectors. The next process
        to start loads from the database and writes a new one. With `older_than`, a snapshot
        written at that generation or later (after the removal) is kept."""
        with self._snapshot_lock():
            if older_than is not None and self.path.exists():
                try:
                    if VectorIndex.read_watermark(self.path).get("generation", -1) >= older_than:
                        return
                except Exception:  # an unreadable snapshot is only a cache: dropped below
                    pass
            self.path.unlink(missing_ok=True)
