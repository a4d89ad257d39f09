"""The file cache the workers of one host share when no REDIS_URL is set (settings.CACHES)."""

from pathlib import Path

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from filelock import FileLock


class LockingFileBasedCache(FileBasedCache):
    """Django's file cache, with `add` atomic across processes. Django's checks whether the file
    exists, then writes it, so two workers can both "add" one key; the per-key concurrency slots
    (records/api/throttling.py) rely on `add` succeeding for one of them only, as it does on Redis."""

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        Path(self._dir).mkdir(parents=True, exist_ok=True)
        with FileLock(Path(self._dir) / "add.lock"):
            return super().add(key, value, timeout, version)
