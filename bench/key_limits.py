"""The per-key limits under load: one greedy key against a polite one and a parallel client, on
gunicorn with the default limits (API_KEY_THROTTLE_RATE, API_KEY_CONCURRENT_REQUESTS and the
key's waiting line, API_KEY_WAITING_REQUESTS / API_KEY_WAIT_SECONDS; WEB_THREADS per worker).

    python -m bench.key_limits                      # 30 s, 2 workers, greedy key on 8 threads
    python -m bench.key_limits --greedy-threads 0   # the parallel client alone
    python -m bench.key_limits --database sqlite --threads 1

A gallery of --seed LFW people is enrolled first. Then for --duration seconds the greedy key sends
matches back to back from --greedy-threads threads (more than it may run and queue at once), the
polite key (a door camera) sends one match at a time from one thread, and the parallel key (an
application with several cameras) sends --parallel-rate matches a second from --parallel-threads
threads, all its threads at once. Reported per key: answers per second, the 429s by cause (rate,
or no slot after waiting in the key's line), p50/p95 of the answered matches, and errors (5xx or no
answer within the client timeout; must be 0); and each worker's resident memory at the end. The
greedy key should be held to its slots, the polite and parallel keys see no 429.
"""

import argparse
import threading
import time

from .load import run_threads
from .serving import Deadline, Deployment, Tally, lfw_people, percentiles, print_json


def hammer(client, photos: list[bytes], label: str, tally: Tally, deadline: Deadline, once: bool = False):
    number = 0
    while once or not deadline.passed():
        status, body, seconds, _ = client.match(photos[(number + threading.get_ident()) % len(photos)])
        number += 1
        if status == 200:
            tally.sample(label, seconds)
        cause = ""
        if status == 429:
            cause = " no slot after the line" if "at once" in body.get("detail", "") else " rate"
        tally.count(f"{label} {status}{cause}")
        if status is None or status >= 500:
            tally.count(f"{label} errors")
            tally.note(f"{label}: {status} {body}")
        if once:
            return


def paced(client, photos: list[bytes], label: str, tally: Tally, deadline: Deadline, interval: float):
    """`hammer`'s requests, one every `interval` seconds (the client's threads in step)."""
    due = time.monotonic()
    while not deadline.passed():
        time.sleep(max(0.0, due - time.monotonic()))
        due += interval
        hammer(client, photos, label, tally, Deadline(0), once=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--greedy-threads", type=int, default=8)
    parser.add_argument("--parallel-threads", type=int, default=4)
    parser.add_argument("--parallel-rate", type=float, default=4.0, help="the parallel key's matches per second")
    parser.add_argument("--threads", type=int, default=None, help="WEB_THREADS (default: the server's)")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()

    people = [photos for photos in lfw_people().values() if len(photos) > 1][: args.seed]
    gallery = [photos[0].read_bytes() for photos in people]
    probes = [photos[1].read_bytes() for photos in people]
    env = {"WEB_THREADS": args.threads} if args.threads else {}
    with Deployment("limits", args.workers, args.database, **env) as deployment:
        greedy, polite, parallel = deployment.clients(3, "limits")
        deployment.server.start()
        for number, photo in enumerate(gallery):
            greedy.enrol(f"person-{number}", photo)
        tally, deadline = Tally(), Deadline(args.duration)
        threads = [
            threading.Thread(target=hammer, args=(greedy, probes, "greedy", tally, deadline))
            for _ in range(args.greedy_threads)
        ] + [threading.Thread(target=hammer, args=(polite, probes, "polite", tally, deadline))] + [
            threading.Thread(
                target=paced, args=(parallel, probes, "parallel", tally, deadline, args.parallel_threads / args.parallel_rate)
            )
            for _ in range(args.parallel_threads)
        ]
        wall = run_threads(threads)
        memory = deployment.server.worker_memory()
    figures = {
        label: {
            "answered_per_s": round(len(tally.samples.get(label, [])) / wall, 2),
            "statuses": {key[len(label) + 1:]: value for key, value in sorted(tally.counts.items()) if key.startswith(label)},
            "latency_answered": percentiles(tally.samples.get(label, [])),
        }
        for label in ("greedy", "polite", "parallel")
    }
    figures["wall_s"] = round(wall, 1)
    figures["worker_rss_mb"] = [round(worker["rss_mb"]) for worker in memory]
    figures["error_notes"] = tally.notes[:5]
    print_json(
        f"key limits ({args.database}, {args.workers} workers x {args.threads or 'default'} threads, greedy key on "
        f"{args.greedy_threads} threads, polite key on 1, parallel key on {args.parallel_threads} at "
        f"{args.parallel_rate:g}/s, {args.duration:.0f} s)",
        figures,
    )
    errors = sum(value for key, value in tally.counts.items() if key.endswith("errors"))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
