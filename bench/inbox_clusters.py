"""Calibrate the review inbox's clustering on LFW DevTrain: nobody enrolled, every face unknown.

Faces arrive in a shuffled order (people interleaved, as at a door): each person's photos (at most
--per-person, so George W Bush's 530 do not make the figures his) and --strangers people seen once.
For each distance, assignment on arrival (inbox/clustering.arrival_groups: what the service's
vector search does); for each min_cluster_size and distance, the re-grouping job (HDBSCAN, cut at the
distance). Scored on the clusters of at least UNKNOWN_CLUSTER_MIN_FACES (2) faces, the suggested
people: how many are pure (one person), how complete (the share of the faces of people seen twice or
more that are in their person's largest pure cluster), and the share of those people found.

    python -m bench.inbox_clusters --manifest ../shared/faces/lfw/manifest.csv

Embeddings are the real model's (bench/embeddings.py, cached per model key). Nothing here is timed:
the figures do not depend on the load.
"""

import argparse
import json
import random
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", default="../shared/faces/lfw/manifest.csv")
    parser.add_argument("--per-person", type=int, default=20)
    parser.add_argument("--strangers", type=int, default=1000, help="people with one photo, seen once")
    parser.add_argument("--distances", default="0.45,0.50,0.55,0.60,0.65")
    parser.add_argument("--min-cluster-sizes", default="2,3,5")
    parser.add_argument("--min-faces", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args()

    from bench.embeddings import embed_paths, people_of, setup_django

    setup_django()
    from inbox.clustering import arrival_groups, regroup, scores
    from recognition.service import get_service

    people = people_of(Path(args.manifest))
    rng = random.Random(args.seed)
    singles = sorted(name for name, photos in people.items() if len(photos) == 1)
    chosen = [(name, path) for name, photos in sorted(people.items()) if len(photos) > 1 for path in photos[: args.per_person]]
    chosen += [(name, people[name][0]) for name in rng.sample(singles, min(args.strangers, len(singles)))]
    rng.shuffle(chosen)
    vectors = embed_paths([path for _, path in chosen], progress=False)
    arrived = [(name, vectors[path]) for name, path in chosen if vectors[path] is not None]
    identities = [name for name, _ in arrived]
    stacked = np.stack([vector for _, vector in arrived])
    print(f"{len(arrived)} faces of {len(set(identities))} people ({len(chosen) - len(arrived)} photos without a face); "
          f"model {get_service().model_key}")
    rows = []
    distances = [float(d) for d in args.distances.split(",")]
    for distance in distances:
        labels = arrival_groups(stacked, distance)
        rows.append(_row("arrival", distance, None, scores(labels, identities, args.min_faces)))
    for size in [int(m) for m in args.min_cluster_sizes.split(",")]:
        for distance in distances:
            labels = regroup(stacked, size, distance)
            rows.append(_row("regroup", distance, size, scores(labels, identities, args.min_faces)))
    print("| rule | distance | min_cluster_size | suggested clusters | pure | completeness | people found |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['rule']} | {row['distance']:.2f} | {row['min_cluster_size'] or ''} | {row['suggested']} | "
              f"{row['pure']:.1%} | {row['completeness']:.1%} | {row['people_found']:.1%} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


def _row(rule, distance, size, measured):
    return {"rule": rule, "distance": distance, "min_cluster_size": size, **measured.__dict__}


if __name__ == "__main__":
    main()
