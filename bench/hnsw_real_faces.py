"""Milvus HNSW on real faces, against an exact scan: is the right person first, and how many of the
true 10 nearest faces does it return (recall@10), for a few graph sizes (M) and search widths (ef)?

    python -m bench.hnsw_real_faces                              # 100,000 faces, M 16 and 32
    python -m bench.hnsw_real_faces --size 100000 --m 16,32 --ef 64,128,256,512 --fill random,clustered

The gallery: LFW's DevTrain split through the service's pipeline (bench/embeddings.py's cache in
DATA_DIR/bench-cache): the first photo of each of its 1,184 people with two or more photos, and the
only photo of each of the others, then --fill vectors up to --size, one owner each: `random` 512-d
unit vectors (no structure: every filler is about as far from every face, the hard case for a
graph), `synthetic` ones drawn from a Gaussian fitted to the real faces, or `clustered` ones drawn
from a Gaussian fitted to each of 8 k-means clusters of them (bench/galleries.py). Printed first:
how like the real faces each filler is (the probes' similarity to strangers, each face's to its
nearest neighbour): `clustered` is the closest, random fill the farthest.
Probes: the second photo of each of the 1,184 people. The exact answers are numpy's inner products
over the whole gallery (what FLAT and FAISS flat return).

Milvus here is the real server (the `milvus` wheel's 2.3.5 standalone, bench/services.py), written
and searched with pymilvus directly in the service's collection layout (an int64 id, inner product
of unit vectors), so the index parameters can change without a database: each (fill, M) is one
collection loaded once, each ef a set of searches of it. Searches ask for the 40 nearest vectors,
as the service's first search for top_k 10 distinct people does (4 x top_k, ef at least that).
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from . import galleries
from .backends_over_http import index_built

CLUSTERS = 8  # k-means clusters of the real faces for the `clustered` filler
LIMIT = 40  # the service's first search for top_k 10 (recognition/vectors/milvus_backend.py)
TOP = 10
BATCH = 10_000


def lfw_faces() -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """(gallery vectors, their people, probe vectors, the probes' people) from LFW DevTrain."""
    import csv

    folder = galleries.faces_dir() / "lfw"
    photos: dict[str, list[Path]] = {}
    with (folder / "manifest.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            photos.setdefault(row["identity"], []).append(folder / row["path"])
    embedded = galleries.real_embeddings([path for paths in photos.values() for path in paths[:2]])
    gallery, owners, probes, probed = [], [], [], []
    for person, paths in sorted(photos.items()):
        first = embedded.get(str(paths[0]))
        if first is None:
            continue
        gallery.append(first)
        owners.append(person)
        if len(paths) > 1 and str(paths[1]) in embedded:
            probes.append(embedded[str(paths[1])])
            probed.append(person)
    return np.stack(gallery), owners, np.stack(probes), probed


def filler(kind: str, real: np.ndarray, count: int) -> np.ndarray:
    if kind == "synthetic":
        return galleries.synthetic_vectors(real, count, seed=1)
    if kind == "clustered":
        return galleries.synthetic_vectors(real, count, seed=1, clusters=CLUSTERS)
    vectors = np.random.default_rng(1).normal(size=(count, real.shape[1])).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def likeness(name: str, gallery: np.ndarray, owners: list, probes: np.ndarray, probed: list) -> str:
    """How face-like a gallery is, against the real faces: each probe's similarity to the
    gallery's faces of other people (mean, spread, the 99th and 99.9th percentiles: how near the
    nearest strangers come) and each face's similarity to its nearest neighbour in the gallery
    (median, 90th percentile: the neighbourhoods a graph index walks)."""
    scores = probes @ gallery.T
    strangers = scores[np.array(owners)[None, :] != np.array(probed)[:, None]]
    neighbours = gallery @ gallery.T
    np.fill_diagonal(neighbours, -1)
    nearest = neighbours.max(axis=1)
    return (f"{name}: probe to a stranger {strangers.mean():.3f} ± {strangers.std():.3f}, "
            f"99% / 99.9% {np.quantile(strangers, 0.99):.3f} / {np.quantile(strangers, 0.999):.3f}; "
            f"nearest neighbour median / 90% {np.median(nearest):.3f} / {np.quantile(nearest, 0.9):.3f}")


def exact_top(gallery: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """The ids (rows) of each probe's TOP nearest vectors by inner product, nearest first."""
    scores = probes @ gallery.T
    top = np.argpartition(-scores, TOP, axis=1)[:, :TOP]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def load(client, name: str, gallery: np.ndarray, m: int) -> float:
    """A collection of `gallery` with an HNSW index of M `m` (efConstruction 200, as the service
    makes it), flushed and loaded: the seconds it took."""
    from pymilvus import DataType, MilvusClient

    started = time.perf_counter()
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("vector_id", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=gallery.shape[1])
    index = client.prepare_index_params()
    index.add_index(field_name="embedding", index_type="HNSW", metric_type="IP",
                    params={"M": m, "efConstruction": 200})
    client.create_collection(name, schema=schema, index_params=index)
    for start in range(0, len(gallery), BATCH):
        client.insert(name, [{"vector_id": start + i, "embedding": vector}
                             for i, vector in enumerate(gallery[start:start + BATCH])])
    client.flush(name)
    # The index is built on the sealed segments in the background: searched once it covers them all.
    client.release_collection(name)
    index_built(client, name, settle=900)  # search times without index builds beside them
    client.load_collection(name)
    return time.perf_counter() - started


def searched(client, name: str, probes: np.ndarray, ef: int) -> tuple[np.ndarray, list[float]]:
    ids, times = [], []
    for probe in probes:
        started = time.perf_counter()
        hits = client.search(name, data=[probe], limit=LIMIT, search_params={"params": {"ef": max(ef, LIMIT)}},
                             consistency_level="Eventually")[0]
        times.append((time.perf_counter() - started) * 1000)
        ids.append([hit["id"] for hit in hits])
    return ids, times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--m", default="16,32")
    parser.add_argument("--ef", default="64,128,256,512")
    parser.add_argument("--fill", default="random,clustered", help="random, synthetic, clustered")
    args = parser.parse_args()

    from .embeddings import setup_django
    from .services import MilvusStandalone

    setup_django()
    real, owners, probes, probed = lfw_faces()
    print(galleries.machine())
    print(f"{len(real):,} LFW faces enrolled, {len(probes):,} probes", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-hnsw-"))
    rows = []
    try:
        with MilvusStandalone(folder / "milvus") as server:
            from pymilvus import MilvusClient

            client = MilvusClient(uri=server.uri)
            print(likeness("real faces", real, owners, probes, probed), flush=True)
            for fill in args.fill.split(","):
                fillers = filler(fill, real, args.size - len(real))
                print(likeness(f"{fill} filler", fillers[: len(real)], [None] * len(real), probes, probed), flush=True)
                gallery = np.concatenate([real, fillers])
                people = owners + [None] * (args.size - len(real))
                exact = exact_top(gallery, probes)
                flat_right = np.mean([people[row[0]] == person for row, person in zip(exact, probed)])
                for m in [int(v) for v in args.m.split(",")]:
                    name = f"hnsw_{fill}_{m}"
                    load_s = load(client, name, gallery, m)
                    for ef in [int(v) for v in args.ef.split(",")]:
                        found, times = searched(client, name, probes, ef)
                        rows.append({
                            "fill": fill, "M": m, "ef": max(ef, LIMIT), "load_s": round(load_s, 1),
                            "right_first": float(np.mean([bool(f) and people[f[0]] == p for f, p in zip(found, probed)])),
                            "flat_right_first": float(flat_right),
                            "recall_at_10": float(np.mean([len(set(f[:TOP]) & set(e)) / TOP for f, e in zip(found, exact)])),
                            "p50_ms": round(galleries.percentile(times, 50), 2),
                            "p95_ms": round(galleries.percentile(times, 95), 2),
                        })
                        print(rows[-1], flush=True)
                    client.drop_collection(name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(galleries.machine())
    print(f"\n| fill | M | ef | right person first (exact scan) | recall@10 vs exact | search p50 / p95 (ms) | load + index (s) |")
    print("|---|---:|---:|---|---:|---|---:|")
    for row in rows:
        print(f"| {row['fill']} | {row['M']} | {row['ef']} | {row['right_first']:.1%} ({row['flat_right_first']:.1%}) "
              f"| {row['recall_at_10']:.3f} | {row['p50_ms']} / {row['p95_ms']} | {row['load_s']} |")


if __name__ == "__main__":
    main()
