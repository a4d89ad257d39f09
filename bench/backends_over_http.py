"""POST /records/match over HTTP and worker memory with each vector backend (FAISS in every worker,
Milvus on a `milvus-lite server` or, with `grow --milvus standalone`, the real Milvus 2.3.5
standalone server: bench/services.py), on the same gallery, one backend after the other in one run.

    F=/tmp/bench-backends
    nice -n 10 python -m bench.backends_over_http grow --size 10000 --folder $F      # not timed
    flock /tmp/bench.lock python -m bench.backends_over_http measure --folder $F     # timed
    nice -n 10 python -m bench.backends_over_http grow --size 100000 --folder $F
    flock /tmp/bench.lock python -m bench.backends_over_http measure --folder $F
    python -m bench.backends_over_http drop --folder $F

`grow` makes (first time) a PostgreSQL database of its own and starts the Milvus server, left
running until `drop`, then fills it up to --size faces as
bench/latency.py does (galleries.insert_gallery: the rows enrolment writes, no photo files): the
real embeddings of --people LFW people first, then random 512-d unit vectors, one person each.
It then brings the Milvus collection up to date from the database (the service's own catch-up,
on the Milvus server over the folder's Milvus data) and flushes it, so `measure` times
searches, not the one-time load.

`measure`, for each backend, gunicorn with --workers
workers (production settings, bench/serving.py), waits until every worker is warm, sends warm-up
matches, then --requests matches from one client: the other LFW photo of those people (250 px),
each of whom must come back as the best match. Reported: p50/p95, the right person found, each
worker's RSS, the Milvus server's RSS and how long the workers took to be ready (a restart).

Milvus Lite is a development server (a pure-Python engine), not Milvus: its figures say nothing
of Milvus Standalone or Distributed.
"""

import argparse
import json
import os
import shutil
import signal
import time
import uuid
from pathlib import Path

import numpy as np

from . import galleries
from .latency import Client
from .serving import Database, Server
from .services import MILVUS_LABELS, MILVUS_SERVERS
from .vector_backends import rss_mb

BACKENDS = ("faiss", "milvus")


def load_state(folder: Path) -> dict:
    path = folder / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(folder: Path, state: dict) -> None:
    (folder / "state.json").write_text(json.dumps(state, indent=1))


def setup(folder: Path, state: dict) -> None:
    """Django on the run's database and DATA_DIR (its embedding cache stays in the folder)."""
    os.environ["DATABASE_URL"] = state["url"]
    os.environ["DATA_DIR"] = str(folder / "data")
    os.environ.setdefault("SECRET_KEY", "bench-backends-over-http")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from .embeddings import setup_django

    setup_django()


def grow(args) -> None:
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = load_state(folder)
    if not state:
        database = Database("backends").create()
        state = {"database": database.name, "url": database.url, "filled": 0,
                 "prefix": f"bench_{uuid.uuid4().hex[:8]}", "probes": [], "milvus": args.milvus}
        save_state(folder, state)
    setup(folder, state)
    from django.conf import settings
    from django.core.management import call_command

    from recognition.vectors.indexes import get_vector_index
    from recognition.service import get_service

    call_command("migrate", verbosity=0, skip_checks=True)
    model_key = get_service().model_key
    if not state["probes"]:
        gallery, probes = galleries.lfw_selection()
        enrolled = dict(gallery)
        chosen = [(name, enrolled[name], probe) for name, probe in probes[: args.people]]
        embeddings = galleries.real_embeddings([photo for _, photo, _ in chosen] + [p for _, _, p in chosen])
        chosen = [c for c in chosen if str(c[1]) in embeddings and str(c[2]) in embeddings]
        galleries.insert_gallery([name for name, _, _ in chosen],
                                 np.stack([embeddings[str(photo)] for _, photo, _ in chosen]), model_key)
        state["probes"] = [[name, str(probe)] for name, _, probe in chosen]
        state["filled"] = len(chosen)
        save_state(folder, state)
    rng = np.random.default_rng(state["filled"])
    started = time.perf_counter()
    while state["filled"] < args.size:
        count = min(100_000, args.size - state["filled"])
        vectors = rng.normal(size=(count, 512)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        galleries.insert_gallery([f"random-{state['filled'] + i:07d}" for i in range(count)], vectors, model_key)
        state["filled"] += count
        save_state(folder, state)
        print(f"database: {state['filled']:,} faces", flush=True)
    print(f"database filled in {time.perf_counter() - started:.0f} s", flush=True)

    pid, settings.MILVUS_URI = milvus_server(folder, state)
    settings.VECTOR_BACKEND, settings.MILVUS_COLLECTION_PREFIX = "milvus", state["prefix"]
    gallery = get_vector_index(model_key)
    started = time.perf_counter()
    gallery.sync()
    gallery.client.flush(gallery.name)  # sealed segments, as a long-running server would have
    print(f"{MILVUS_LABELS[state['milvus']]} holds {gallery.count():,} vectors, loaded in "
          f"{time.perf_counter() - started:.0f} s; its server's RSS {rss_mb(pid):.0f} MB", flush=True)
    waited = index_built(gallery.client, gallery.name, settle=args.settle)
    print(f"its index covers them {waited:.0f} s later; its server's RSS {rss_mb(pid):.0f} MB", flush=True)


def index_built(client, name: str, settle: float = 0, timeout: float = 3600) -> float:
    """Waits until Milvus's index covers every sealed row of the collection (it builds in the
    background after a flush; until then it searches the rest through an interim IVF index or a
    scan), then up to `settle` seconds more while it still indexes again the segments it made by
    compaction (searched meanwhile through the indexed ones they came from, but with index builds
    running beside the searches): the seconds waited, printing what is left every minute."""
    from recognition.vectors.milvus_index_build import index_build_of

    started = last_print = time.perf_counter()
    while build := index_build_of(client, name):
        waited = time.perf_counter() - started
        if waited > timeout or not (build.unindexed_rows or (build.reindexing_rows and waited < settle)):
            break
        if time.perf_counter() - last_print > 60:
            print(f"{name} after {waited:.0f} s: {build.unindexed_rows:,} rows not indexed, "
                  f"{build.reindexing_rows:,} being indexed again", flush=True)
            last_print = time.perf_counter()
        time.sleep(5)
    if build:
        print(f"{name} after {time.perf_counter() - started:.0f} s: {build.unindexed_rows:,} rows not indexed, "
              f"{build.reindexing_rows:,} rows of compacted segments being indexed again", flush=True)
    return time.perf_counter() - started


def milvus_server(folder: Path, state: dict) -> tuple[int, str]:
    """The run's Milvus server (pid, URI), started by the first step and left running until
    `drop`, as a Milvus serving the workers would be (Milvus Lite loses a collection's data when
    stopped just after a flush)."""
    if state.get("milvus_pid") and Path(f"/proc/{state['milvus_pid']}").exists():
        return state["milvus_pid"], state["milvus_uri"]
    server = MILVUS_SERVERS[state["milvus"]](folder / "milvus").start()
    state["milvus_pid"], state["milvus_uri"] = server.pid, server.uri
    server.detach()
    save_state(folder, state)
    return state["milvus_pid"], state["milvus_uri"]


def measure(args) -> None:
    folder = Path(args.folder)
    state = load_state(folder)
    if not state:
        raise SystemExit(f"nothing in {folder}: run `grow` first")
    probes = [(name, Path(path).read_bytes()) for name, path in state["probes"]]
    print(galleries.machine(), flush=True)
    milvus_pid, uri = milvus_server(folder, state)
    # `grow` ran at nice 10 and so did the server it started: searched at normal priority here,
    # every thread of it (lowering a niceness needs root).
    for thread in Path(f"/proc/{milvus_pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(thread.name), 0)
    from pymilvus import MilvusClient

    from recognition.vectors.milvus_index_build import index_build_of

    client = MilvusClient(uri=uri)
    build = None
    for name in client.list_collections():
        if name.startswith(state["prefix"] + "_"):
            print(f"Milvus's index covered every vector of {name} after {index_built(client, name):.0f} s more",
                  flush=True)
            build = index_build_of(client, name)
    rows, key = [], None
    for backend in BACKENDS:
        server = Server(
            args.workers, folder / f"serve-{backend}", state["url"], log=folder / f"gunicorn-{backend}.log",
            VECTOR_BACKEND=backend, MILVUS_URI=uri, MILVUS_COLLECTION_PREFIX=state["prefix"],
            API_KEY_THROTTLE_RATE="1000000/minute",
        )
        server.data_dir.mkdir(exist_ok=True)
        server.migrate(static=False)  # as scripts/serve does: the code may have moved on since `grow`
        key = key or server.create_api_keys(["bench-backends"])[0]
        try:
            ready_s = server.start(timeout=args.start_timeout)
            name = backend if backend == "faiss" else MILVUS_LABELS[state["milvus"]]
            rows.append({"backend": name, "faces": state["filled"], "workers_ready_s": round(ready_s, 1),
                         **matches(Client(server.port, key), probes, args),
                         "worker_rss_mb": [round(w["rss_mb"]) for w in server.worker_memory()],
                         "milvus_server_rss_mb": round(rss_mb(milvus_pid)) if backend == "milvus" else None,
                         # rows Milvus was indexing again meanwhile (compaction), index builds beside the searches
                         "milvus_reindexing_rows": build.reindexing_rows if backend == "milvus" and build else None})
            print(json.dumps(rows[-1]), flush=True)
        finally:
            server.stop()
    print(galleries.machine(), flush=True)
    with (folder / "results.jsonl").open("a") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print("\n| faces | backend | match p50 / p95 (ms) | right person first | worker RSS (MB) | Milvus server RSS (MB) "
          "| workers ready (s) |")
    print("|---:|---|---|---|---|---|---:|")
    for row in rows:
        timing = f"{row['p50_ms']:.0f} / {row['p95_ms']:.0f}" if row["requests"] else "—"
        print(f"| {row['faces']:,} | {row['backend']} | {timing} | {row['right']}/{row['requests']} "
              f"| {', '.join(map(str, row['worker_rss_mb']))} | {row['milvus_server_rss_mb'] or '—'} "
              f"| {row['workers_ready_s']} |")


def matches(client: Client, probes, args) -> dict:
    for number in range(2 * args.workers):  # each worker's first search is not timed
        client.post("/records/match", {"top_k": 5}, probes[number % len(probes)][1])
    times, right = [], 0
    for number in range(args.requests):
        name, photo = probes[number % len(probes)]
        status, elapsed, answer = client.post("/records/match", {"top_k": 5}, photo)
        if status != 200:
            raise RuntimeError(f"match answered {status}: {answer}")
        times.append(elapsed)
        right += bool(answer.get("top_matches")) and answer["top_matches"][0]["name"] == name
    return {"requests": args.requests, "right": right,
            "p50_ms": 1000 * galleries.percentile(times, 50), "p95_ms": 1000 * galleries.percentile(times, 95)}


def drop(args) -> None:
    folder = Path(args.folder)
    state = load_state(folder)
    if state:
        pid = state.get("milvus_pid")
        if pid and Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if Path(f"/proc/{pid}").exists():  # the real Milvus server's components wait on each other
                os.kill(pid, signal.SIGKILL)
        database = Database("backends")
        database.name, database.url = state["database"], state["url"]
        database.drop()
    shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("grow", "measure", "drop"))
    parser.add_argument("--folder", required=True, help="the run's database name, Milvus data and logs")
    parser.add_argument("--size", type=int, default=10_000, help="grow: faces in the gallery")
    parser.add_argument("--people", type=int, default=20, help="grow, first time: real LFW people enrolled")
    parser.add_argument("--requests", type=int, default=40, help="measure: timed matches per backend")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--start-timeout", type=float, default=900)
    parser.add_argument("--settle", type=float, default=1800,
                        help="grow: seconds to wait, once the index covers every row, while Milvus still indexes "
                             "again what it compacted (CPU a timed `measure` would share)")
    parser.add_argument("--milvus", choices=sorted(MILVUS_SERVERS), default="lite",
                        help="grow, first time: milvus-lite's server, or the real Milvus 2.3 standalone")
    args = parser.parse_args()
    {"grow": grow, "measure": measure, "drop": drop}[args.step](args)


if __name__ == "__main__":
    main()
