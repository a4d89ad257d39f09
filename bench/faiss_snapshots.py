"""FAISS snapshots at a million vectors: what a delete costs the next worker to start, how long an
erased vector stays on disk, and the stall a search sees when the changes it applies cross the
snapshot threshold.

    DATA_DIR=/big/dir DATABASE_URL=postgres://... python -m bench.faiss_snapshots build --vectors 1000000
    DATA_DIR=/big/dir DATABASE_URL=postgres://... python -m bench.faiss_snapshots prepare
    DATA_DIR=/big/dir DATABASE_URL=postgres://... python -m bench.faiss_snapshots start-after-delete
    DATA_DIR=/big/dir DATABASE_URL=postgres://... python -m bench.faiss_snapshots save-stall --changes 1500

`build` (untimed) writes random 512-d unit vectors in bulk into the database of DATA_DIR /
DATABASE_URL; `prepare` (untimed) loads them and writes a snapshot with the code it runs, so each
version starts from a snapshot of its own format (give each version its own DATA_DIR). The timed
commands load that snapshot first (untimed).

- `start-after-delete`: deletes one person the way every path does (`Person.delete()`: the rows,
  then the erasure once it commits), reports how long the delete call took, how long after it the
  snapshot on disk still held the erased vector, then times a new process loading the index as a
  worker does at boot (`get_vector_index(key).sync()`).
- `save-stall`: streams `--changes` additions, `--per-search` at a time, each batch followed by one
  timed search (`get_vector_index(key).search`, which applies the batch first, as a match does), and
  reports the latencies' p50/p99/max and the snapshots written.

The same file runs against an older checkout of the service (copy it into that checkout's bench/):
it only uses what both versions have.
"""

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid

import numpy as np

from . import galleries

MODEL_KEY = "Bench:snapshots:v1"
DIMENSION = 512
DELETABLE = 20  # people with a photo row, deleted by start-after-delete

CHILD = r"""
import json, sys, time
import django
django.setup()
from recognition.vectors.indexes import get_vector_index
started = time.perf_counter()
gallery = get_vector_index(sys.argv[1])
gallery.sync()
print(json.dumps({"start_s": time.perf_counter() - started, "vectors": gallery.count()}))
"""


def unit_vectors(rng, count: int) -> np.ndarray:
    vectors = rng.normal(size=(count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(args) -> None:
    """Bare vector rows for all but the last few (whose owners are never deleted here), written in
    bulk (PostgreSQL's COPY, else Django's bulk_create); the last `DELETABLE` as whole people
    (bench/galleries.py), whom start-after-delete deletes."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import F

    from recognition.models import FaceVector, IndexState

    call_command("migrate", verbosity=0, skip_checks=True)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    bare = args.vectors - DELETABLE - FaceVector.objects.filter(model_key=MODEL_KEY).count()
    for start in range(0, max(0, bare), 50_000):
        count = min(50_000, bare - start)
        vectors = unit_vectors(rng, count)
        with transaction.atomic():
            state, _ = IndexState.objects.select_for_update().get_or_create(model_key=MODEL_KEY)
            IndexState.objects.filter(pk=MODEL_KEY).update(
                next_vector_id=F("next_vector_id") + count, generation=F("generation") + 1
            )
            rows = [
                (MODEL_KEY, state.next_vector_id + i, uuid.uuid4(), state.generation + 1, vectors[i].tobytes(), "")
                for i in range(count)
            ]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor, cursor.copy(
                    "COPY recognition_facevector (model_key, vector_id, owner_id, generation, embedding, partition) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                FaceVector.objects.bulk_create(
                    (FaceVector(model_key=k, vector_id=v, owner_id=o, generation=g, embedding=e, partition=p)
                     for k, v, o, g, e, p in rows), batch_size=5000,
                )
        print(f"{start + count:,} vectors stored ({time.perf_counter() - started:.0f} s)", flush=True)
    galleries.insert_gallery([f"deletable{i}" for i in range(DELETABLE)], unit_vectors(rng, DELETABLE), MODEL_KEY)


def loaded_gallery():
    """This process's index of the bench gallery, loaded, with a snapshot of it on disk (untimed)."""
    from recognition.vectors.indexes import get_vector_index

    gallery = get_vector_index(MODEL_KEY)
    started = time.perf_counter()
    gallery.sync()
    wait_for_background_work(gallery)
    gallery.save()
    print(f"loaded {gallery.count():,} vectors and saved a snapshot in {time.perf_counter() - started:.0f} s", flush=True)
    return gallery


def wait_for_background_work(gallery) -> None:
    """Snapshots written off the request path exist only in the newer version."""
    wait = getattr(gallery, "wait_for_upkeep", None)
    if wait:
        wait()


def snapshot_generation(gallery) -> int | None:
    from recognition.vectors.faiss_index import FaissIndex

    try:
        return FaissIndex.read_watermark(gallery.path)["generation"]
    except (OSError, ValueError, KeyError):
        return None


def start_after_delete(args) -> dict:
    from recognition.models import FaceVector, IndexState
    from records.models import Person

    gallery = loaded_gallery()
    owner = FaceVector.objects.filter(model_key=MODEL_KEY).order_by("-vector_id").values_list("owner_id", flat=True)[0]
    # Watch the snapshot from another thread: when does no file on disk hold the vector any more?
    erased_at = {}
    deleted = threading.Event()

    def watch():
        deleted.wait()
        removal = IndexState.objects.get(pk=MODEL_KEY).generation
        while True:
            generation = snapshot_generation(gallery)
            if generation is None or generation >= removal:
                erased_at["t"] = time.perf_counter()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    Person.objects.get(pk=owner).delete()
    deleted_at = time.perf_counter()
    deleted.set()
    watcher.join()
    wait_for_background_work(gallery)
    result = {
        "delete_call_s": deleted_at - started,
        "erased_vector_on_disk_s": max(0.0, erased_at["t"] - deleted_at),
        "snapshot_after_delete": gallery.path.exists(),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, MODEL_KEY], cwd=galleries.BASE_DIR, check=True, capture_output=True, text=True
    )
    result.update(json.loads(child.stdout.strip().splitlines()[-1]))
    return result


def save_stall(args) -> dict:
    gallery = loaded_gallery()
    rng = np.random.default_rng(1)
    query = unit_vectors(rng, 1)[0]
    gallery.search(query, 10)  # warm
    snapshot_mtimes = {gallery.path.stat().st_mtime}
    latencies = []
    for batch in range(args.changes // args.per_search):
        names = [f"stream{batch}-{i}" for i in range(args.per_search)]
        galleries.insert_gallery(names, unit_vectors(rng, args.per_search), MODEL_KEY)
        started = time.perf_counter()
        gallery.search(query, 10)
        latencies.append(time.perf_counter() - started)
        if gallery.path.exists():
            snapshot_mtimes.add(gallery.path.stat().st_mtime)
    streamed_until = time.perf_counter()
    wait_for_background_work(gallery)
    snapshot_mtimes.add(gallery.path.stat().st_mtime)
    milliseconds = np.array(latencies) * 1000
    return {
        "searches": len(latencies),
        "changes": len(latencies) * args.per_search,
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "max_ms": float(milliseconds.max()),
        "slowest_search": int(milliseconds.argmax()),
        "snapshots_written": len(snapshot_mtimes) - 1,
        "waited_for_background_after_stream_s": time.perf_counter() - streamed_until,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "prepare", "start-after-delete", "save-stall"])
    parser.add_argument("--vectors", type=int, default=1_000_000, help="build: gallery size")
    parser.add_argument("--changes", type=int, default=1500, help="save-stall: additions streamed")
    parser.add_argument("--per-search", type=int, default=5, help="save-stall: additions applied by each search")
    args = parser.parse_args()
    from .embeddings import setup_django

    setup_django()
    if args.command == "build":
        build(args)
        return
    if args.command == "prepare":
        loaded_gallery()
        return
    print(galleries.machine(), flush=True)
    result = start_after_delete(args) if args.command == "start-after-delete" else save_stall(args)
    print(json.dumps(result, indent=1))
    print(galleries.machine())


if __name__ == "__main__":
    main()
