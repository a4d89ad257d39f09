"""The per-key limits under load: one greedy key against a polite one, on gunicorn with the default
limits (API_KEY_THROTTLE_RATE, API_KEY_CONCURRENT_REQUESTS).

    python -m bench.key_limits                 # 30 s, 2 workers, greedy key on 4 threads
    python -m bench.key_limits --database sqlite

A gallery of --seed LFW people is enrolled first. Then for --duration seconds the greedy key sends
matches back to back from --greedy-threads threads (more than it may run at once), while the
polite key (a door camera) sends one match at a time from one thread. Reported per key: answers
per second, the 429s by cause (rate or concurrency), p50/p95 of the answered matches, and errors
(5xx or no answer within the client timeout; must be 0). The greedy key should be held near its
rate and the polite key keep being answered.
"""

import argparse
import threading

from .load import run_threads
from .serving import Deadline, Deployment, Tally, lfw_people, percentiles, print_json


def hammer(client, photos: list[bytes], label: str, tally: Tally, deadline: Deadline):
    number = 0
    while not deadline.passed():
        status, body, seconds, _ = client.match(photos[number % len(photos)])
        number += 1
        if status == 200:
            tally.sample(label, seconds)
        cause = ""
        if status == 429:
            cause = " concurrency" if "at once" in body.get("detail", "") else " rate"
        tally.count(f"{label} {status}{cause}")
        if status is None or status >= 500:
            tally.count(f"{label} errors")
            tally.note(f"{label}: {status} {body}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--greedy-threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()

    people = [photos for photos in lfw_people().values() if len(photos) > 1][: args.seed]
    gallery = [photos[0].read_bytes() for photos in people]
    probes = [photos[1].read_bytes() for photos in people]
    with Deployment("limits", args.workers, args.database) as deployment:
        greedy, polite = deployment.clients(2, "limits")
        deployment.server.start()
        for number, photo in enumerate(gallery):
            greedy.enrol(f"person-{number}", photo)
        tally, deadline = Tally(), Deadline(args.duration)
        threads = [
            threading.Thread(target=hammer, args=(greedy, probes, "greedy", tally, deadline))
            for _ in range(args.greedy_threads)
        ] + [threading.Thread(target=hammer, args=(polite, probes, "polite", tally, deadline))]
        wall = run_threads(threads)
    figures = {
        label: {
            "answered_per_s": round(len(tally.samples.get(label, [])) / wall, 2),
            "statuses": {key[len(label) + 1:]: value for key, value in sorted(tally.counts.items()) if key.startswith(label)},
            "latency_answered": percentiles(tally.samples.get(label, [])),
        }
        for label in ("greedy", "polite")
    }
    figures["wall_s"] = round(wall, 1)
    figures["error_notes"] = tally.notes[:5]
    print_json(
        f"key limits ({args.database}, {args.workers} workers, greedy key on {args.greedy_threads} threads, "
        f"polite key on 1, {args.duration:.0f} s)",
        figures,
    )
    errors = sum(value for key, value in tally.counts.items() if key.endswith("errors"))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
