"""Keeps this process's FAISS index in step with the database, which is the source of truth.

Every change to the stored vectors of a model key bumps `IndexState.generation` in the same
transaction (an added FaceVector carries the generation it was added at; a removal leaves a
RemovedVector row). Before each search a process reads one row; when the generation moved it
applies only the rows after its own watermark, so several gunicorn workers, each with its own
index, answer as the database says without ever reloading everything.
"""

import logging
import threading
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from filelock import FileLock

from .index import Neighbour, VectorIndex
from .models import FaceVector, IndexState, RemovedVector

logger = logging.getLogger(__name__)

# A process writes its index to disk after this many changes, so a new worker starts from a
# recent snapshot and replays only what came after it.
SAVE_EVERY_CHANGES = 1000
LOAD_CHUNK = 5000


def _new_index() -> VectorIndex:
    return VectorIndex(**_index_options())


def _index_options() -> dict:
    return {"approximate_above": settings.APPROXIMATE_INDEX_ABOVE, "nprobe": settings.IVF_NPROBE}


class Gallery:
    """One model key's index in this process."""

    def __init__(self, model_key: str):
        self.model_key = model_key
        self.index = _new_index()
        self.generation = 0
        self.epoch = -1  # never loaded
        self.changes_since_save = 0
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        return Path(settings.INDEX_DIR) / f"{slugify(self.model_key.replace(':', '-'))}.npz"

    def _snapshot_lock(self) -> FileLock:
        return FileLock(str(self.path) + ".lock", timeout=60)

    def search(self, vector, top_k: int) -> list[Neighbour]:
        with self._lock:
            self.sync()
            return self.index.search_people(vector, top_k)

    def sync(self) -> None:
        """Catch up with the database: one query when nothing changed."""
        with self._lock:
            state = IndexState.objects.filter(pk=self.model_key).values("generation", "epoch").first()
            state = state or {"generation": 0, "epoch": 0}
            # A generation below ours means a transaction this process saw was rolled back.
            if state["epoch"] != self.epoch or state["generation"] < self.generation:
                self._reload(state["epoch"], state["generation"])
            elif state["generation"] > self.generation:
                self._apply_changes(self.generation, state["generation"])
            if self.changes_since_save >= SAVE_EVERY_CHANGES:
                self.save()

    def _reload(self, epoch: int, generation: int) -> None:
        snapshot = self._read_snapshot(epoch, generation)
        if snapshot is not None:
            self.index, self.generation = snapshot
            self.epoch = epoch
            self._apply_changes(self.generation, generation)
        else:
            self.rebuild_from_database(epoch, generation)
            self.save()

    def _read_snapshot(self, epoch: int, generation: int):
        if not self.path.exists():
            return None
        try:
            # The watermark alone first: loading a snapshot of another epoch only to drop it
            # would cost seconds at a million vectors.
            watermark = VectorIndex.read_watermark(self.path)
            if watermark.get("epoch") != epoch or watermark.get("generation", 1 << 62) > generation:
                return None
            index, watermark = VectorIndex.load(self.path, **_index_options())
        except Exception:  # a damaged snapshot is only a cache: rebuild from the database
            logger.exception("Ignoring unreadable index snapshot %s", self.path)
            return None
        return index, watermark["generation"]

    def rebuild_from_database(self, epoch: int, generation: int) -> None:
        started = time.perf_counter()
        index = _new_index()
        rows = (
            FaceVector.objects.filter(model_key=self.model_key, generation__lte=generation)
            .values_list("vector_id", "owner_id", "embedding")
            .order_by()
        )
        self._add_rows(index, rows.iterator(chunk_size=LOAD_CHUNK))
        self.index, self.generation, self.epoch = index, generation, epoch
        logger.info(
            "Loaded %d vectors of %s from the database in %.0f ms",
            len(index), self.model_key, (time.perf_counter() - started) * 1000,
        )

    def _apply_changes(self, after: int, upto: int) -> None:
        removed = RemovedVector.objects.filter(
            model_key=self.model_key, generation__gt=after, generation__lte=upto
        ).values_list("vector_id", flat=True)
        added = FaceVector.objects.filter(
            model_key=self.model_key, generation__gt=after, generation__lte=upto
        ).values_list("vector_id", "owner_id", "embedding")
        removed = list(removed)
        count = self._add_rows(self.index, added.iterator(chunk_size=LOAD_CHUNK))
        count += self.index.remove(removed)
        self.generation = upto
        self.changes_since_save += count
        if removed:
            # The deleting process forgot its own snapshot, but a host with a DATA_DIR of its own
            # learns of the erasure only here: no snapshot it keeps may hold the removed vectors.
            self.forget_snapshot(older_than=upto)

    @staticmethod
    def _add_rows(index: VectorIndex, rows) -> int:
        total = 0
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == LOAD_CHUNK:
                total += _add_batch(index, batch)
                batch = []
        return total + _add_batch(index, batch)

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


def _add_batch(index: VectorIndex, rows) -> int:
    if not rows:
        return 0
    vector_ids = [row[0] for row in rows]
    vectors = np.stack([np.frombuffer(bytes(row[2]), dtype=np.float32) for row in rows])
    index.add(vector_ids, vectors, [row[1] for row in rows])
    return len(rows)


def rebuild(model_key: str) -> Gallery:
    """Start a new epoch: every process reloads from the database on its next search."""
    with transaction.atomic():
        state, _ = IndexState.objects.select_for_update().get_or_create(model_key=model_key)
        state.epoch += 1
        state.rebuilt_at = timezone.now()
        state.save(update_fields=["epoch", "rebuilt_at"])
        # Every process reloads on the new epoch, so the removal log before it is not needed.
        RemovedVector.objects.filter(model_key=model_key, generation__lte=state.generation).delete()
    gallery = get_gallery(model_key)
    with gallery._lock:
        gallery.epoch = -1
        gallery.path.unlink(missing_ok=True)
        gallery.sync()
    return gallery


_galleries: dict[str, Gallery] = {}
_galleries_lock = threading.Lock()


def get_gallery(model_key: str) -> Gallery:
    with _galleries_lock:
        if model_key not in _galleries:
            _galleries[model_key] = Gallery(model_key)
        return _galleries[model_key]
