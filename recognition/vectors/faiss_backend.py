"""VECTOR_BACKEND=faiss (the default): every process holds its own FAISS index of each model key,
in memory, and catches up with the database's change log before each search. Snapshots on disk
(DATA_DIR/index/) let a new process start from a recent copy and replay only what came after it.

Writing a snapshot (seconds at a million vectors) and training IVF clusters (12-37 s) never
happen inside a request: a search only notes that they are due, and a background thread of the
process that holds the index does them on a frozen index (recognition/vectors/faiss_index.py) while searches go
on. A thread per process rather than one designated worker or a command: every worker holds its
own index anyway, so each can train its own without anyone to coordinate with, and the file lock
plus the watermark check below mean that of the workers of a host only the first to finish writes
a snapshot, the others find it on disk and skip theirs.
"""

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.db.models import Max
from django.utils.text import slugify
from filelock import FileLock, Timeout

from .faiss_index import FaissIndex, FrozenIndex
from ..models import IndexState, RemovedVector
from .base import VectorIndex, Watermark, database_watermark

logger = logging.getLogger(__name__)

# A process writes its index to disk after this many changes, so a new worker starts from a
# recent snapshot and replays only what came after it.
SAVE_EVERY_CHANGES = 1000
# Another process may be writing a snapshot of a million vectors (tens of seconds on a busy host).
SNAPSHOT_LOCK_SECONDS = 600


def _index_options() -> dict:
    return {"approximate_above": settings.APPROXIMATE_INDEX_ABOVE, "nprobe": settings.IVF_NPROBE}


class FaissVectorIndex(VectorIndex):
    """One model key's index in this process."""

    backend = "faiss"

    def __init__(self, model_key: str):
        super().__init__(model_key)
        self.index = self._new_index()
        self.generation = 0
        self.epoch = -1  # never loaded
        self.changes_since_save = 0
        self.erased_since_save = False  # the snapshot on disk may hold a vector removed since
        # Fixed when made: work still running in the background writes where it was meant to.
        self.path = Path(settings.INDEX_DIR) / f"{slugify(model_key.replace(':', '-'))}.npz"
        self._lock = threading.RLock()
        # Saving and training one at a time, on one thread; a request made while one is queued is
        # served by it (the work reads what is due when it starts).
        self._upkeep_lock = threading.Lock()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"index-upkeep-{model_key}")
        self._queued: Future | None = None

    @staticmethod
    def _new_index() -> FaissIndex:
        return FaissIndex(**_index_options(), vector_type=settings.FAISS_VECTOR_TYPE)

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
        with self._lock:  # a copy: another thread of the worker may be applying changes
            return set(self.index.vector_ids)

    @property
    def applied(self) -> Watermark | None:
        return Watermark(self.epoch, self.generation) if self.epoch >= 0 else None

    # --- keeping in step ------------------------------------------------------------------------
    def _snapshot_lock(self, timeout: float = SNAPSHOT_LOCK_SECONDS) -> FileLock:
        return FileLock(str(self.path) + ".lock", timeout=timeout)

    # Under the lock: FAISS and the index's maps are not safe to read while another thread of the
    # worker (gthread, facesite/gunicorn.conf.py) applies changes to them.
    def search(self, vector, top_k: int, partitions=None):
        with self._lock:
            return super().search(vector, top_k, partitions)

    def search_many(self, vectors, top_k: int, partitions=None):
        with self._lock:
            return super().search_many(vectors, top_k, partitions)

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
            if self.erased_since_save or self.changes_since_save >= SAVE_EVERY_CHANGES or self.index.needs_training():
                self._request_upkeep()

    def reload(self) -> None:
        with self._lock:
            self.epoch = -1
            self.path.unlink(missing_ok=True)
            self.sync()

    def purge_removed(self) -> bool:
        """Drop the removed vectors from this process's index now, and have its snapshot written
        again without them (in the background: see removed_applied). A process that holds no
        index (a shell, a command) cannot write one without loading it first: it deletes the
        snapshot instead, and the next worker to start loads from the database."""
        with self._lock:
            if self.epoch < 0:
                self.forget_snapshot(older_than=database_watermark(self.model_key).generation)
                return True
        # Before the sync queues the rewrite (which then holds the lock). No snapshot holding the
        # vector can be written after this: a write overtaken by the removal is thrown away (save).
        dropped = self._stale_snapshot_dropped()
        self.sync()
        return dropped

    def _stale_snapshot_dropped(self) -> bool:
        """Whether no snapshot on disk can hold a removed vector. The rewrite is only queued: were
        the erasure taken as done now and that write to fail, the old snapshot would keep the
        vector for good. So a snapshot older than the last removal is deleted at once (the queued
        write puts a new one there; a worker starting meanwhile loads from the database); False
        while another writer holds the file lock, whose own write may fail too."""
        try:
            with self._snapshot_lock(timeout=0):
                self._drop_if_older_than_last_removal()
        except Timeout:
            # This process's own upkeep writing it (it holds both locks) replaces the snapshot,
            # or failing, drops it (save): done. Another process's may die before either.
            return self._upkeep_lock.locked()
        return True

    def _drop_if_older_than_last_removal(self) -> None:
        """Delete the snapshot if it was written before the last removal. Hold the file lock."""
        last = RemovedVector.objects.filter(model_key=self.model_key).aggregate(last=Max("generation"))["last"]
        if last is not None:
            self._forget_snapshot_file(older_than=last)

    def _reload(self, state: Watermark) -> None:
        snapshot = self._read_snapshot(state)
        if snapshot is not None:
            self.index, self.generation = snapshot
            self.epoch = state.epoch
            self.changes_since_save += self.apply_changes(self.generation, state.generation)
            self.generation = state.generation
        else:
            self.rebuild_from_database(state)
            self.changes_since_save = SAVE_EVERY_CHANGES  # no snapshot of this epoch: write one

    def _read_snapshot(self, state: Watermark):
        if not self.path.exists():
            return None
        try:
            # The watermark alone first: loading a snapshot of another epoch only to drop it
            # would cost seconds at a million vectors.
            watermark = FaissIndex.read_watermark(self.path)
            if watermark.get("epoch") != state.epoch or watermark.get("generation", 1 << 62) > state.generation:
                return None
            if FaissIndex.read_vector_type(self.path) != settings.FAISS_VECTOR_TYPE:
                return None  # FAISS_VECTOR_TYPE changed: load the full-precision rows instead
            index, watermark = FaissIndex.load(self.path, **_index_options())
        except Exception:  # a damaged snapshot is only a cache: rebuild from the database
            logger.exception("Ignoring unreadable index snapshot %s", self.path)
            return None
        return index, watermark["generation"]

    def rebuild_from_database(self, state: Watermark) -> None:
        started = time.perf_counter()
        self.index = self._new_index()
        self.load_all(state.generation)
        self.generation, self.epoch = state.generation, state.epoch
        logger.info(
            "Loaded %d vectors of %s from the database in %.0f ms",
            len(self.index), self.model_key, (time.perf_counter() - started) * 1000,
        )

    def removed_applied(self, generation: int) -> None:
        # The snapshot on disk may hold the removed vectors: write a new one promptly. This is how
        # a host with a DATA_DIR of its own, which did not make the delete, learns of it too.
        self.erased_since_save = True

    # --- off the request path -------------------------------------------------------------------
    def _request_upkeep(self) -> None:
        queued = self._queued
        if queued is None or queued.running() or queued.done():
            self._queued = self._background.submit(self._upkeep)

    def wait_for_upkeep(self) -> None:
        while True:
            queued = self._queued
            if queued is None:
                return
            queued.result()
            if self._queued is queued:
                return

    def _upkeep(self) -> None:
        try:
            self.retrain_if_due()
            if self.erased_since_save or self.changes_since_save >= SAVE_EVERY_CHANGES:
                self.save()
        except Exception:
            logger.exception("Index upkeep of %s failed; it is tried again at the next change", self.model_key)
        finally:
            connections.close_all()  # this thread's own connections

    def retrain_if_due(self) -> None:
        """Train IVF on the frozen contents while searches and changes go on, then swap."""
        with self._upkeep_lock:
            with self._lock:
                index = self.index
                if not index.needs_training():
                    return
                frozen = index.freeze()
            try:
                started = time.perf_counter()
                retrained = frozen.retrained()
                logger.info("Trained IVF on %d vectors of %s in %.1f s", retrained.trained_size, self.model_key,
                            time.perf_counter() - started)
            except BaseException:
                with self._lock:
                    index.thaw()
                raise
            with self._lock:
                index.thaw(retrained)

    def save(self) -> None:
        """Write a snapshot of the index as it is now, under the file lock, from a frozen index
        (searches go on meanwhile); replace the file on disk only if nothing the snapshot holds
        has been removed since (a stale snapshot would put erased biometric data back on disk)."""
        with self._upkeep_lock, self._snapshot_lock():
            self._remove_abandoned_writes()
            with self._lock:
                if self.epoch < 0:
                    return
                watermark, index = Watermark(self.epoch, self.generation), self.index
                changes, erased = self.changes_since_save, self.erased_since_save
                self.changes_since_save, self.erased_since_save = 0, False
                if self._on_disk_already(watermark):
                    return
                frozen = index.freeze()
            try:
                written = frozen.write(self.path, epoch=watermark.epoch, generation=watermark.generation)
            except BaseException:
                with self._lock:  # written at the next upkeep instead
                    self.changes_since_save += changes
                    self.erased_since_save = self.erased_since_save or erased
                # Meanwhile no older snapshot may keep a vector removed since it was written.
                self._drop_if_older_than_last_removal()
                raise
            finally:
                with self._lock:
                    index.thaw()
            if self._still_true(watermark, frozen):
                os.replace(written, self.path)
                return
            written.unlink()
            with self._lock:
                self.changes_since_save += changes

    def _on_disk_already(self, watermark: Watermark) -> bool:
        if not self.path.exists():
            return False
        try:
            on_disk = FaissIndex.read_watermark(self.path)
            vector_type = FaissIndex.read_vector_type(self.path)
        except Exception:
            logger.warning("Overwriting unreadable index snapshot %s", self.path)
            return False
        return (
            on_disk.get("epoch") == watermark.epoch and on_disk.get("generation", -1) >= watermark.generation
            and vector_type == self.index.vector_type
        )

    def _still_true(self, watermark: Watermark, frozen: FrozenIndex) -> bool:
        """Whether the database still agrees with a snapshot at `watermark`: same epoch, nothing
        rolled back, and no vector it holds removed since. When a removal overtook the write, the
        older snapshot on disk holds that vector too: it goes, so that an erased vector never
        outlives one write (the next worker then loads from the database)."""
        state = IndexState.objects.filter(pk=self.model_key).values("epoch", "generation").first()
        if not state or state["epoch"] != watermark.epoch or state["generation"] < watermark.generation:
            return False
        removed = RemovedVector.objects.filter(model_key=self.model_key, generation__gt=watermark.generation)
        overtaken = [(vector_id, generation) for vector_id, generation in removed.values_list("vector_id", "generation")
                     if vector_id in frozen.person_of]
        if overtaken:
            self._forget_snapshot_file(older_than=max(generation for _, generation in overtaken))
            return False
        return True

    def _remove_abandoned_writes(self) -> None:
        """A process killed while writing leaves its temporary file behind (with whatever vectors
        it held, removed ones included); only a holder of the file lock can be writing one."""
        for abandoned in self.path.parent.glob(f"{self.path.name}*.tmp"):
            abandoned.unlink(missing_ok=True)

    def forget_snapshot(self, older_than: int | None = None) -> None:
        """No snapshot on disk may keep a deleted vector. With `older_than`, a snapshot written at
        that generation or later (after the removal) is kept."""
        with self._snapshot_lock():
            self._forget_snapshot_file(older_than)

    def _forget_snapshot_file(self, older_than: int | None) -> None:
        if older_than is not None and self.path.exists():
            try:
                if FaissIndex.read_watermark(self.path).get("generation", -1) >= older_than:
                    return
            except Exception:  # an unreadable snapshot is only a cache: dropped below
                pass
        self.path.unlink(missing_ok=True)
