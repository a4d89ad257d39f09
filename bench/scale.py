"""Search time of the vector index against gallery size, flat and approximate (IVF).

    python -m bench.scale                      # 10k, 100k and 1M vectors, about 5 minutes
    python -m bench.scale --sizes 10000,100000 # quicker
    python -m bench.scale --sizes 1000000 --vector-types float32,float16   # flat float32 vs fp16

For each size the index (recognition.vectors.faiss_index.FaissIndex, as the service uses it) holds the 2,000
real LFW gallery embeddings plus synthetic vectors (bench/galleries.py says how they are drawn).
Queries are real embeddings of other photos of gallery people, and as many synthetic ones.

Reported per size: single-query time of the flat scan (FAISS search, k=10) and of
`search_people(top_k=5)` (what a match does), per-query time in batches, and the memory-bandwidth
bound of a flat scan: bytes of vectors scanned per query / copy bandwidth measured here (numpy,
one thread, counted as STREAM does). Then the approximate index at several nprobe: single-query
time, speed-up over flat in the same run, and recall@10 against the flat index's exact answer.
Writes bench/scale.json and the plot bench/scale.png.

With --vector-types, instead: a flat index of each FAISS_VECTOR_TYPE per size (float16: FAISS's fp16
scalar quantizer), its memory (the process's RSS growth while it was filled, every index kept, and
the bytes FAISS stores per vector), single-query time, and recall@10 against the float32 index's
exact top 10.
"""

import argparse
import json
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from . import galleries

TOP = 10
RECALL_TARGET = 0.99


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def build(vectors: np.ndarray, approximate: bool, nprobe: int, vector_type: str = "float32"):
    from recognition.vectors.faiss_index import FaissIndex

    index = FaissIndex(approximate_above=0 if approximate else None, nprobe=nprobe, vector_type=vector_type)
    people = [uuid.UUID(int=i) for i in range(len(vectors))]
    started = time.perf_counter()
    index.add(np.arange(len(vectors)), vectors, people)
    index.reorganise()
    return index, time.perf_counter() - started


def single_query_times(index, queries, repeats: int) -> list[float]:
    for query in queries[:5]:  # warm caches and code paths
        index.nearest(query[None], TOP)
    return [timed(index.nearest, query[None], TOP) for _ in range(repeats) for query in queries]


def measure_size(size, real, synthetic, queries, timed_queries, bandwidth, args) -> dict:
    vectors = np.concatenate([real, synthetic[: size - len(real)]])
    flat, flat_build = build(vectors, approximate=False, nprobe=args.nprobe[0])
    single = single_query_times(flat, timed_queries, args.repeats)
    people = [timed(flat.search_people, q, 5) for _ in range(args.repeats) for q in timed_queries]
    batch = [
        timed(flat.nearest, queries[start : start + args.batch], TOP) / len(queries[start : start + args.batch])
        for _ in range(args.repeats)
        for start in range(0, len(queries), args.batch)
    ]
    _, exact = flat.nearest(queries, TOP)
    bytes_scanned = size * vectors.shape[1] * 4
    result = {
        "size": size,
        "flat_build_s": flat_build,
        "flat_single_ms": 1000 * float(np.median(single)),
        "flat_single_p90_ms": 1000 * galleries.percentile(single, 90),
        "search_people_ms": 1000 * float(np.median(people)),
        "flat_batch_per_query_ms": 1000 * float(np.median(batch)),
        "bytes_scanned": bytes_scanned,
        "bandwidth_bound_ms": 1000 * bytes_scanned / bandwidth,
    }
    result["flat_vs_bound"] = result["flat_single_ms"] / result["bandwidth_bound_ms"]
    del flat
    approximate, ivf_build = build(vectors, approximate=True, nprobe=args.nprobe[0])
    result["ivf_lists"] = approximate._index.nlist
    result["ivf_build_s"] = ivf_build
    result["ivf"] = []
    real_count = args.real_queries
    for nprobe in args.nprobe:
        approximate._index.nprobe = nprobe
        times = single_query_times(approximate, timed_queries, args.repeats)
        _, found = approximate.nearest(queries, TOP)
        recall = np.array([len(set(f) & set(e)) / TOP for f, e in zip(found.tolist(), exact.tolist())])
        result["ivf"].append(
            {
                "nprobe": nprobe,
                "single_ms": 1000 * float(np.median(times)),
                "speedup": result["flat_single_ms"] / (1000 * float(np.median(times))),
                "recall_at_10": float(recall.mean()),
                "recall_at_10_real_queries": float(recall[:real_count].mean()),
                "recall_at_10_synthetic_queries": float(recall[real_count:].mean()),
            }
        )
    return result


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_vector_types(size, real, synthetic, queries, timed_queries, args) -> list[dict]:
    """Flat indexes of each type over the same vectors, all kept, so each RSS growth is its own."""
    vectors = np.concatenate([real, synthetic[: size - len(real)]])
    rows, exact = [], None
    for vector_type in args.vector_types:
        before = rss_mb()
        index, build_s = build(vectors, approximate=False, nprobe=args.nprobe[0], vector_type=vector_type)
        grown = rss_mb() - before
        times = single_query_times(index, timed_queries, args.repeats)
        people = [timed(index.search_people, q, 5) for _ in range(args.repeats) for q in timed_queries]
        _, found = index.nearest(queries, TOP)
        if exact is None:
            exact = found  # the first type given (float32) is the reference
        recall = np.array([len(set(f) & set(e)) / TOP for f, e in zip(found.tolist(), exact.tolist())])
        rows.append({
            "size": size, "vector_type": vector_type, "build_s": build_s, "rss_growth_mb": grown,
            "bytes_per_vector": index._index.index.sa_code_size(),
            "single_ms": 1000 * float(np.median(times)), "single_p90_ms": 1000 * galleries.percentile(times, 90),
            "search_people_ms": 1000 * float(np.median(people)),
            "recall_at_10": float(recall.mean()),
            "recall_at_10_real_queries": float(recall[: args.real_queries].mean()),
            "index": index,
        })
        print(f"{size:,} {vector_type} done", flush=True)
    for row in rows:
        del row["index"]
    return rows


def report_vector_types(results) -> str:
    lines = [
        f"machine: {galleries.machine()}",
        "",
        "| vectors | type | bytes per vector | RSS growth (MB) | single query p50 / p90 (ms) | search_people top 5 (ms) "
        "| recall@10 vs float32 (all / real queries) |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['vector_type']} | {r['bytes_per_vector']} | {r['rss_growth_mb']:.0f} "
            f"| {r['single_ms']:.2f} / {r['single_p90_ms']:.2f} | {r['search_people_ms']:.2f} "
            f"| {r['recall_at_10']:.4f} / {r['recall_at_10_real_queries']:.4f} |"
        )
    return "\n".join(lines)


def report(results, bandwidth, args) -> str:
    lines = [
        f"machine: {galleries.machine()}",
        f"copy bandwidth (numpy, 1 thread, read+write): {bandwidth / 1e9:.2f} GB/s",
        f"queries: {args.real_queries} real + {args.real_queries} synthetic; single-query times are medians of "
        f"{args.timed_queries} queries x {args.repeats} repeats; batches of {args.batch}",
        "",
        "| vectors | flat single (ms) | bandwidth bound (ms) | flat / bound | search_people top 5 (ms) "
        "| flat batch per query (ms) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['size']:,} | {r['flat_single_ms']:.2f} | {r['bandwidth_bound_ms']:.2f} | {r['flat_vs_bound']:.2f} "
            f"| {r['search_people_ms']:.2f} | {r['flat_batch_per_query_ms']:.3f} |"
        )
    lines += [
        "",
        "| vectors | IVF lists | build (s) | nprobe | single (ms) | speed-up vs flat | recall@10 all "
        "| real queries | synthetic queries |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for ivf in r["ivf"]:
            lines.append(
                f"| {r['size']:,} | {r['ivf_lists']} | {r['ivf_build_s']:.1f} | {ivf['nprobe']} "
                f"| {ivf['single_ms']:.3f} "
                f"| {ivf['speedup']:.1f}x | {ivf['recall_at_10']:.4f} | {ivf['recall_at_10_real_queries']:.4f} "
                f"| {ivf['recall_at_10_synthetic_queries']:.4f} |"
            )
    lines.append("")
    for r in results:
        best = enough_recall(r)
        found = f"{best['nprobe']} ({best['single_ms']:.2f} ms, {best['speedup']:.1f}x faster than flat)" if best else "none"
        lines.append(f"{r['size']:,} vectors: smallest nprobe with recall@10 >= {RECALL_TARGET}: {found}")
    return "\n".join(lines)


def enough_recall(result: dict) -> dict | None:
    return next((i for i in result["ivf"] if i["recall_at_10"] >= RECALL_TARGET), None)


def plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in results]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(sizes, [r["flat_single_ms"] for r in results], "o-", label="flat, single query")
    ax.plot(sizes, [r["flat_batch_per_query_ms"] for r in results], "s-", label="flat, per query in a batch")
    ax.plot(sizes, [r["bandwidth_bound_ms"] for r in results], "k--", label="memory-bandwidth bound")
    chosen = [(r["size"], enough_recall(r)) for r in results]
    chosen = [(size, ivf) for size, ivf in chosen if ivf]
    ax.plot(
        [size for size, _ in chosen], [ivf["single_ms"] for _, ivf in chosen], "^-",
        label=f"IVF, smallest nprobe with recall@10 >= {RECALL_TARGET}",
    )
    galleries.save_log_log_plot(
        fig, ax, path, "vectors in the index (128-d float32)", "search time (ms)",
        "Index search time against gallery size",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--nprobe", default="32,64,128,256,384,512")
    parser.add_argument("--real-queries", type=int, default=galleries.PROBES)
    parser.add_argument("--timed-queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--json", default="bench/scale.json")
    parser.add_argument("--plot", default="bench/scale.png")
    parser.add_argument("--vector-types", default="", help="e.g. float32,float16: compare flat indexes of these types")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.vector_types = [t for t in args.vector_types.split(",") if t]
    args.nprobe = [int(n) for n in args.nprobe.split(",")]

    data_dir = galleries.use_private_data_dir("bench-scale-")
    try:
        measure(args)
    finally:
        shutil.rmtree(data_dir)  # the embedding cache is a symlink: rmtree removes only the link


def measure(args) -> None:
    from .embeddings import setup_django

    setup_django()
    gallery, probes = galleries.lfw_selection(probes=args.real_queries)
    embeddings = galleries.real_embeddings([p for _, p in gallery + probes])
    real = np.stack([embeddings[str(p)] for _, p in gallery if str(p) in embeddings])
    real_queries = np.stack([embeddings[str(p)] for _, p in probes if str(p) in embeddings])
    args.real_queries = len(real_queries)
    synthetic = galleries.synthetic_vectors(real, max(args.sizes) - len(real) + args.real_queries)
    synthetic, synthetic_queries = synthetic[: -args.real_queries], synthetic[-args.real_queries :]
    # Recall is measured on every query, real ones first; times on half real, half synthetic.
    queries = np.ascontiguousarray(np.concatenate([real_queries, synthetic_queries]))
    half = args.timed_queries // 2
    timed_queries = np.ascontiguousarray(np.concatenate([real_queries[:half], synthetic_queries[:half]]))
    if args.vector_types:
        results = [row for size in args.sizes
                   for row in measure_vector_types(size, real, synthetic, queries, timed_queries, args)]
        print(report_vector_types(results))
        Path(args.json).write_text(json.dumps({"machine": galleries.machine(), "results": results}, indent=1))
        return
    bandwidth = galleries.copy_bandwidth()

    results = []
    for size in args.sizes:
        results.append(measure_size(size, real, synthetic, queries, timed_queries, bandwidth, args))
        print(f"{size:,} vectors done", flush=True)
    text = report(results, bandwidth, args)
    print(text)
    summary = {"machine": galleries.machine(), "bandwidth": bandwidth, "results": results}
    Path(args.json).write_text(json.dumps(summary, indent=1))
    if args.plot:
        plot(results, Path(args.plot))
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
