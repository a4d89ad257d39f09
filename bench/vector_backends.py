"""FAISS in the process against Milvus (a `milvus-lite server` started here), through the service's
own index interface (recognition.gallery.get_gallery): load time, search latency (top 10 distinct
owners), agreement with FAISS, and memory of the searching process and of the Milvus server.

    python -m bench.vector_backends                 # 10,000 vectors, 200 searches
    python -m bench.vector_backends --sizes 10000,100000

Bounded: --sizes vectors (random 512-d unit vectors, one owner each) in a private SQLite database
and DATA_DIR, --searches searches per backend and size. Milvus Lite is a development server (a
pure-Python engine), not Milvus: its figures say nothing of Milvus Standalone or Distributed.
"""

import argparse
import shutil
import subprocess
import sys
import time
import uuid

import numpy as np

from . import galleries
from .serving import HOST, free_port

MODEL_KEY = "Bench:vectors:v1"


def rss_mb(pid="self") -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_milvus(folder):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "milvus"), "--host", HOST,
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    from pymilvus import MilvusClient

    uri = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            MilvusClient(uri=uri, timeout=2).list_collections()
            return server, uri
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("milvus-lite server did not start")
            time.sleep(0.5)


def measure(backend: str, queries: np.ndarray, milvus_pid: int | None) -> dict:
    from django.conf import settings

    from recognition import gallery as galleries_module

    settings.VECTOR_BACKEND = backend
    galleries_module._galleries.clear()
    before = rss_mb()
    milvus_before = rss_mb(milvus_pid) if milvus_pid else None
    gallery = galleries_module.get_gallery(MODEL_KEY)
    started = time.perf_counter()
    gallery.sync()
    load_s = time.perf_counter() - started
    gallery.search(queries[0], 10)  # warm
    times, answers = [], []
    for query in queries:
        started = time.perf_counter()
        found = gallery.search(query, 10)
        times.append((time.perf_counter() - started) * 1000)
        answers.append([n.vector_id for n in found])
    return {
        "backend": backend,
        "load_s": round(load_s, 2),
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "process_rss_growth_mb": round(rss_mb() - before, 1),
        "milvus_server_rss_growth_mb": round(rss_mb(milvus_pid) - milvus_before, 1) if milvus_pid else None,
        "answers": answers,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--searches", type=int, default=200)
    args = parser.parse_args()
    data_dir = galleries.use_private_data_dir("bench-vectors-")
    server = None
    try:
        from .embeddings import setup_django

        setup_django()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0, skip_checks=True)
        server, settings.MILVUS_URI = start_milvus(data_dir)
        settings.MILVUS_COLLECTION_PREFIX = f"bench_{uuid.uuid4().hex[:8]}"
        print(galleries.machine())
        rng = np.random.default_rng(0)
        filled = 0
        rows = []
        for size in [int(s) for s in args.sizes.split(",")]:
            vectors = rng.normal(size=(size - filled, 512)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            galleries.insert_gallery([f"p{filled + i}" for i in range(len(vectors))], vectors, MODEL_KEY)
            filled = size
            queries = vectors[: args.searches] + 0.3 * rng.normal(size=(args.searches, 512)).astype(np.float32) / np.sqrt(512)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            faiss = measure("faiss", queries, None)
            milvus = measure("milvus", queries, server.pid)
            agree = np.mean([a == b for a, b in zip(faiss.pop("answers"), milvus.pop("answers"))])
            rows.append((size, faiss, milvus, agree))
            print(f"{size:,}: faiss {faiss}; milvus {milvus}; same top 10 in {agree:.1%} of searches", flush=True)
        print("\n| vectors | backend | load (s) | search p50 / p95 (ms) | searching process RSS growth (MB) | Milvus server RSS growth (MB) |")
        print("|---|---|---|---|---|---|")
        for size, faiss, milvus, agree in rows:
            for result in (faiss, milvus):
                print(f"| {size:,} | {result['backend']} | {result['load_s']} | {result['p50_ms']} / {result['p95_ms']} | "
                      f"{result['process_rss_growth_mb']} | {result['milvus_server_rss_growth_mb'] or '—'} |")
            print(f"| | same top 10 as FAISS | {agree:.1%} of searches | | | |")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
