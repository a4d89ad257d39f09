"""The file cache the workers of one host share: `add` lets one process only take a key (the
per-key concurrency slots rely on it)."""

import multiprocessing

from facesite.cache import LockingFileBasedCache

KEYS = [f"slot-{number}" for number in range(40)]


def take_every_key(folder: str, results) -> None:
    cache = LockingFileBasedCache(folder, {})
    results.put([key for key in KEYS if cache.add(key, "mine", timeout=60)])


def test_of_processes_adding_the_same_keys_at_once_one_takes_each(tmp_path):
    context = multiprocessing.get_context("spawn")  # not fork: a test run has threads (the live server)
    results = context.Queue()
    processes = [context.Process(target=take_every_key, args=(str(tmp_path), results)) for _ in range(6)]
    for process in processes:
        process.start()
    taken = [key for _ in processes for key in results.get(timeout=60)]
    for process in processes:
        process.join(timeout=60)

    assert sorted(taken) == sorted(KEYS)  # every key taken, none twice
