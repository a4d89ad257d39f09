"""Property 3, load: mixed match/enrol traffic against gunicorn for a bounded time, as fast as the
CPU answers, with no error.

    python -m bench.load                      # 20 s, 2 workers, 4 clients
    python -m bench.load --duration 60        # the issue's full length

gunicorn with --workers workers (default 2) on a PostgreSQL database of its own
(bench/serving.py), seeded through the API with --seed real LFW people. Then --clients threads
(default 4: two per worker, so a worker never waits for its next request), each with its own API
key, send requests back to back for --duration seconds (and at most --max-requests in all): a match
(probability --match-share) of another LFW photo of a seeded person, else the enrolment of a new
LFW photo. The offered load is closed-loop: the rate is the highest this machine sustains.

Reported: requests, throughput, p50/p95/p99 latency (all, per kind), statuses; errors = 5xx and
requests without an answer within the 30 s client timeout (must be 0). A 422 (an LFW photo in
which no face is found) is the documented answer, not an error.
"""

import argparse
import random
import threading
import time

from .serving import Deadline, Deployment, Tally, lfw_people, percentiles, print_json


def photo_sets(seed: int):
    """(seed people: name -> first photo bytes, probes: (name, bytes), new photos: iterator)."""
    people = lfw_people()
    several = [name for name, photos in people.items() if len(photos) > 1][:seed]
    gallery = {name: people[name][0].read_bytes() for name in several}
    probes = [(name, people[name][1].read_bytes()) for name in several]
    others = (
        (name, photos[0].read_bytes()) for name, photos in people.items() if name not in gallery
    )
    return gallery, probes, others


def seed_gallery(clients, gallery: dict[str, bytes]) -> dict[str, str]:
    """Enrol the gallery from the clients' threads; returns name -> person id."""
    ids, lock, items = {}, threading.Lock(), iter(list(gallery.items()))

    def work(client):
        while True:
            with lock:
                item = next(items, None)
            if item is None:
                return
            status, body, _, _ = client.enrol(*item)
            if status == 201:
                with lock:
                    ids[item[0]] = body["record"]["id"]

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def traffic(clients, probes, new_photos, ids, tally: Tally, deadline: Deadline, budget, match_share: float,
            prefix: str = ""):
    """Match/enrol requests from each client until the deadline or the request budget runs out."""
    lock = threading.Lock()

    def work(client, chooser):
        while not deadline.passed() and next(budget, None) is not None:
            if chooser.random() < match_share:
                name, probe = chooser.choice(probes)
                status, body, elapsed, _ = client.match(probe)
                kind = "match"
                if status == 200 and name in ids and ids[name] not in {m["id"] for m in body["top_matches"]}:
                    tally.count(f"{prefix}match without the person in its top 5")
            else:
                with lock:
                    name, photo = next(new_photos)
                status, body, elapsed, _ = client.enrol(name, photo)
                kind = "enrol"
            tally.count(f"{prefix}{kind} {status}")
            if status is None or status >= 500:
                tally.count(f"{prefix}errors")
                tally.note(f"{kind}: {status} {body}")
            elif status in (200, 201, 422):
                tally.sample(f"{prefix}{kind}", elapsed)
                tally.sample(f"{prefix}all", elapsed)

    return [threading.Thread(target=work, args=(client, random.Random(n))) for n, client in enumerate(clients)]


def run_threads(threads) -> float:
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def summary(tally: Tally, wall: float, prefix: str = "") -> dict:
    answered = len(tally.samples.get(f"{prefix}all", []))
    return {
        "wall_s": round(wall, 1),
        "answered": answered,
        "throughput_per_s": round(answered / wall, 2),
        "errors": tally.counts.get(f"{prefix}errors", 0),
        "statuses": {k[len(prefix):]: v for k, v in sorted(tally.counts.items())
                     if k.startswith(prefix) and k[len(prefix):].split()[0] in ("match", "enrol")},
        "latency_all": percentiles(tally.samples.get(f"{prefix}all", [])),
        "latency_match": percentiles(tally.samples.get(f"{prefix}match", [])),
        "latency_enrol": percentiles(tally.samples.get(f"{prefix}enrol", [])),
        "error_notes": [note for note in tally.notes][:5],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=40)
    parser.add_argument("--match-share", type=float, default=0.8)
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    gallery, probes, new_photos = photo_sets(args.seed)
    with Deployment("load", args.workers, args.database, keep=args.keep) as deployment:
        clients = deployment.clients(args.clients, "load")
        deployment.server.start()
        ids = seed_gallery(clients, gallery)
        tally = Tally()
        threads = traffic(clients, probes, new_photos, ids, tally, Deadline(args.duration),
                          iter(range(args.max_requests)), args.match_share)
        figures = summary(tally, run_threads(threads))
    print_json(
        f"load ({args.database}, {args.workers} workers, {args.clients} clients, {args.duration:.0f} s, "
        f"{args.match_share:.0%} matches, gallery {len(ids)})",
        figures,
    )
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
