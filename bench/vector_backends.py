"""FAISS in the process against Milvus (a `milvus-lite server` or, with --milvus standalone, the
real Milvus 2.3.5 standalone server, started here: bench/services.py), through the service's
own index interface (recognition.vectors.indexes.get_vector_index): load time, search latency (top 10 distinct
owners), agreement with FAISS, and memory of the searching process and of the Milvus server.

    python -m bench.vector_backends                 # 10,000 vectors, 200 searches
    python -m bench.vector_backends --sizes 10000,100000 --hnsw   # and Milvus HNSW's recall@10
    python -m bench.vector_backends --sizes 100000 --hnsw --milvus standalone

With --hnsw, Milvus is measured twice, with a FLAT and with an HNSW index (M 16, efConstruction
200, ef = max(512, the search's limit), recognition/vectors/milvus_backend.py); each index's answers
are compared with FAISS flat's exact ones: the same top 10, recall@10, the same nearest.

Bounded: --sizes vectors (random 512-d unit vectors, one owner each) in a private SQLite database
and DATA_DIR, --searches searches per backend and size. Milvus Lite is a development server (a
pure-Python engine), not Milvus: its figures say nothing of Milvus Standalone or Distributed.
"""

import argparse
import shutil
import time
import uuid

import numpy as np

from . import galleries
from .services import MILVUS_LABELS, MILVUS_SERVERS

MODEL_KEY = "Bench:vectors:v1"
PREFIX = f"bench_{uuid.uuid4().hex[:8]}"
TOP = 10


def rss_mb(pid="self") -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(backend: str, queries: np.ndarray, milvus_pid: int | None, index_type: str = "FLAT", label: str = "") -> dict:
    from django.conf import settings

    from recognition.vectors import indexes as galleries_module

    settings.VECTOR_BACKEND, settings.MILVUS_INDEX_TYPE = backend, index_type
    # A collection of each index type's own: each is loaded (and its index built) from the database.
    settings.MILVUS_COLLECTION_PREFIX = f"{PREFIX}_{index_type.lower()}"
    galleries_module._indexes.clear()
    before = rss_mb()
    milvus_before = rss_mb(milvus_pid) if milvus_pid else None
    gallery = galleries_module.get_vector_index(MODEL_KEY)
    started = time.perf_counter()
    gallery.sync()
    if backend == "milvus":  # what a larger size added is sealed too, as a long-running server would have
        gallery.client.flush(gallery.name)
    load_s = time.perf_counter() - started
    gallery.search(queries[0], 10)  # warm
    times, answers = [], []
    for query in queries:
        started = time.perf_counter()
        found = gallery.search(query, 10)
        times.append((time.perf_counter() - started) * 1000)
        answers.append([n.vector_id for n in found])
    return {
        "backend": backend if backend == "faiss" else f"{label} {index_type}",
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
    parser.add_argument("--hnsw", action="store_true", help="also Milvus with an HNSW index: its recall against flat")
    parser.add_argument("--milvus", choices=sorted(MILVUS_SERVERS), default="lite",
                        help="the Milvus server started: milvus-lite's, or the real Milvus 2.3 standalone")
    args = parser.parse_args()
    data_dir = galleries.use_private_data_dir("bench-vectors-")
    server = None
    try:
        from .embeddings import setup_django

        setup_django()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0, skip_checks=True)
        server = MILVUS_SERVERS[args.milvus](data_dir / "milvus").start()
        settings.MILVUS_URI, label = server.uri, MILVUS_LABELS[args.milvus]
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
            results = [measure("faiss", queries, None), measure("milvus", queries, server.pid, label=label)]
            if args.hnsw:
                results.append(measure("milvus", queries, server.pid, index_type="HNSW", label=label))
            exact = results[0]["answers"]
            for result in results:
                answers = result.pop("answers")
                result["same_top10"] = np.mean([a == b for a, b in zip(exact, answers)])
                result["recall_at_10"] = np.mean([len(set(a) & set(b)) / TOP for a, b in zip(exact, answers)])
                result["same_first"] = np.mean([a[:1] == b[:1] for a, b in zip(exact, answers)])
            rows.append((size, results))
            print(f"{size:,}: {results}", flush=True)
        print(galleries.machine())
        print("\n| vectors | backend | load (s) | search p50 / p95 (ms) | against FAISS flat: same top 10 / recall@10 / same first "
              "| searching process RSS growth (MB) | Milvus server RSS growth (MB) |")
        print("|---|---|---|---|---|---|---|")
        for size, results in rows:
            for result in results:
                print(f"| {size:,} | {result['backend']} | {result['load_s']} | {result['p50_ms']} / {result['p95_ms']} | "
                      f"{result['same_top10']:.1%} / {result['recall_at_10']:.3f} / {result['same_first']:.1%} | "
                      f"{result['process_rss_growth_mb']} | {result['milvus_server_rss_growth_mb'] or '—'} |")
    finally:
        if server:
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
