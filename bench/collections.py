"""A match kept to one collection: one index searched with a partition selector (what the service
does), against an index per collection, and against a post-filter of the nearest overall.

    python -m bench.collections                          # 10 collections of 10,000, 512 dimensions
    python -m bench.collections --collections 4 --per-collection 10000

Synthetic unit vectors (no model: this measures the index, not the pipeline). Half the
collections are "look-alikes": their vectors lie near the queries, so the nearest vectors overall
are all theirs, the worst case for a post-filter. Reported: median single-query time of
`search_people(top_k=10)` within one ordinary collection for each way, and how many of the
collection's true 10 nearest people each way returns (recall).
"""

import argparse
import statistics
import time
import uuid

import numpy as np

from recognition.vectors.faiss_index import FaissIndex

TOP = 10


def unit(vectors):
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=int, default=10)
    parser.add_argument("--per-collection", type=int, default=10_000)
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    queries = unit(rng.normal(size=(args.queries, args.dimension)))
    blocks, partitions = [], []
    for number in range(args.collections):
        if number % 2:  # look-alikes: near the queries
            near = queries[rng.integers(0, args.queries, args.per_collection)]
            blocks.append(unit(near + 0.03 * rng.normal(size=(args.per_collection, args.dimension))))
        else:
            blocks.append(unit(rng.normal(size=(args.per_collection, args.dimension))))
        partitions += [str(number)] * args.per_collection
    vectors = np.concatenate(blocks)
    owners = [uuid.UUID(int=i + 1) for i in range(len(vectors))]
    ids = list(range(len(vectors)))

    shared = FaissIndex()
    shared.add(ids, vectors, owners, partitions)
    own = FaissIndex()  # collection "0" alone: what an index per collection would search
    own.add(ids[: args.per_collection], vectors[: args.per_collection], owners[: args.per_collection])

    def post_filter(query):
        found = shared.search_people(query, TOP * 4)  # the nearest overall, then keep collection 0
        return [n for n in found if partitions[n.vector_id] == "0"][:TOP]

    ways = {
        "one index, partition selector (the service)": lambda q: shared.search_people(q, TOP, ["0"]),
        "an index per collection": lambda q: own.search_people(q, TOP),
        "one index, post-filter of the 40 nearest": post_filter,
    }
    truth = [{n.person_id for n in own.search_people(q, TOP)} for q in queries]
    print(f"{args.collections} collections x {args.per_collection:,} vectors, {args.dimension} dimensions")
    print("| way | median ms / match | recall of the collection's 10 nearest |")
    print("|---|---|---|")
    for name, search in ways.items():
        search(queries[0])  # warm up (builds the partition's member list once)
        times, recall = [], []
        for query, expected in zip(queries, truth):
            started = time.perf_counter()
            found = search(query)
            times.append((time.perf_counter() - started) * 1000)
            recall.append(len({n.person_id for n in found} & expected) / TOP)
        print(f"| {name} | {statistics.median(times):.2f} | {statistics.mean(recall):.2f} |")


if __name__ == "__main__":
    main()
