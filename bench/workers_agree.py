"""Property 1, workers agree: gunicorn workers, each with its own index, answer as the database says.

    python -m bench.workers_agree                     # 60 enrolments, 8 enrolling threads, 3 workers
    python -m bench.workers_agree --enrolments 200    # the issue's full size (a few minutes here)

gunicorn with --workers workers (default 3) on a PostgreSQL database of its own (bench/serving.py).
--threads client threads (default 8) each take the next real LFW photo (the first photo of a
different person each time) and enrol it through the API; as soon as the enrolment returns, the
same thread sends --checks matches of that photo (gunicorn hands each to whichever worker is free)
and every one must find that person. Every --delete-every-th person is then deleted, and
--checks more matches must not return them. Meanwhile --matchers more threads match photos of
people already enrolled, and no answer may name anyone whose delete had returned before the match
was sent. At the end every person is matched once more.

Reported: enrolments lost (acknowledged, then not found), stale answers (a deleted person
returned), and how many checks each worker answered (from gunicorn's access log).
Bounded: at most --enrolments enrolments and --time-limit seconds.
"""

import argparse
import itertools
import random
import threading
import time

from .serving import Deadline, Deployment, Tally, lfw_people, percentiles, print_json


def enrolment_photos(count: int) -> list[tuple[str, bytes]]:
    """The first LFW photo of `count` different people."""
    return [(name, photos[0].read_bytes()) for name, photos in itertools.islice(lfw_people().items(), count)]


def returned_ids(body: dict) -> set[str]:
    return {candidate["id"] for candidate in body.get("top_matches", [])}


def run(server, make_client, photos, threads=8, matchers=2, checks=3, delete_every=4, time_limit=600.0) -> dict:
    """The scenario on a started server; `make_client()` gives a Client with its own key."""
    tally = Tally()
    deadline = Deadline(time_limit)
    todo = iter(photos)
    todo_lock = threading.Lock()
    live: dict[str, bytes] = {}  # person id -> photo, acknowledged and not deleted
    deleted_at: dict[str, float] = {}  # person id -> when its delete returned
    deleting: set[str] = set()  # deletes sent, not yet returned
    state = threading.Lock()
    check_ids: list[str] = []
    writers_done = threading.Event()
    # Counted across the writers, not per writer: how the photos fall between threads depends on
    # the machine's load, and a per-writer count then made anywhere from 2 to 4 deletes of 12.
    acknowledged = itertools.count(1)

    def check(client, photo: bytes, person_id: str, must_find: bool) -> None:
        for _ in range(checks):
            status, body, elapsed, request_id = client.match(photo)
            tally.sample("match", elapsed)
            with state:
                check_ids.append(request_id)
            if status != 200:
                tally.count(f"check answered {status}")
                tally.note(f"check {request_id}: {status} {body}")
                continue
            found = person_id in returned_ids(body)
            if must_find and not found:
                tally.count("enrolments lost")
                tally.note(f"enrolled {person_id} not found by {request_id}")
            if not must_find and found:
                tally.count("stale answers")
                tally.note(f"deleted {person_id} returned by {request_id}")

    def writer():
        client = make_client()
        while not deadline.passed():
            with todo_lock:
                item = next(todo, None)
            if item is None:
                return
            name, photo = item
            status, body, elapsed, _ = client.enrol(name, photo)
            tally.sample("enrol", elapsed)
            if status == 422:  # no face found in this LFW photo: not a person to look for
                tally.count("photos without a face")
                continue
            if status != 201:
                tally.count(f"enrol answered {status}")
                tally.note(f"enrol {name}: {status} {body}")
                continue
            person_id = body["record"]["id"]
            tally.count("enrolled")
            with state:
                live[person_id] = photo
            check(client, photo, person_id, must_find=True)
            with state:
                number = next(acknowledged)
            if number % delete_every == 0:
                with state:
                    deleting.add(person_id)
                    live.pop(person_id)
                status, body, elapsed, _ = client.delete(person_id)
                tally.sample("delete", elapsed)
                if status != 200:
                    tally.count(f"delete answered {status}")
                    continue
                with state:
                    deleted_at[person_id] = time.monotonic()
                    deleting.discard(person_id)
                tally.count("deleted")
                check(client, photo, person_id, must_find=False)

    def matcher():
        client = make_client()
        chooser = random.Random(threading.get_ident())
        while not writers_done.is_set() and not deadline.passed():
            with state:
                if not live:
                    probe_id = None
                else:
                    probe_id, probe = chooser.choice(list(live.items()))
            if probe_id is None:
                time.sleep(0.05)
                continue
            sent = time.monotonic()
            status, body, elapsed, _ = client.match(probe)
            tally.sample("match", elapsed)
            tally.count("background matches")
            if status != 200:
                tally.count(f"background match answered {status}")
                continue
            with state:
                stale = [pid for pid in returned_ids(body) if deleted_at.get(pid, float("inf")) < sent]
                # Only a person nobody had started to delete must be found.
                missed = probe_id not in returned_ids(body) and probe_id not in deleting and probe_id not in deleted_at
            if stale:
                tally.count("stale answers", len(stale))
                tally.note(f"background match returned deleted {stale}")
            if missed:
                tally.count("enrolments lost")
                tally.note(f"background match missed {probe_id}")

    started = time.perf_counter()
    writer_threads = [threading.Thread(target=writer) for _ in range(threads)]
    matcher_threads = [threading.Thread(target=matcher) for _ in range(matchers)]
    for thread in writer_threads + matcher_threads:
        thread.start()
    for thread in writer_threads:
        thread.join()
    writers_done.set()
    for thread in matcher_threads:
        thread.join()
    wall = time.perf_counter() - started

    # Last sweep: everyone still enrolled is found, nobody deleted comes back.
    client = make_client()
    final = {"found": 0, "missing": 0, "stale": 0}
    for person_id, photo in list(live.items()):
        final["found" if person_id in returned_ids(client.match(photo)[1]) else "missing"] += 1
    for person_id in list(deleted_at)[:20]:
        listed = client.call("GET", f"/records/{person_id}")[0]
        final["stale"] += listed != 404
    total = client.call("GET", "/records?limit=1")[1].get("total_count")

    served = server.served_by(check_ids)
    per_worker: dict[int, int] = {}
    for request_id in check_ids:
        pid = served.get(request_id)
        if pid is not None:
            per_worker[pid] = per_worker.get(pid, 0) + 1
    counts = tally.counts
    return {
        "workers": server.workers,
        "threads": threads,
        "matchers": matchers,
        "enrolled": counts.get("enrolled", 0),
        "deleted": counts.get("deleted", 0),
        "photos_without_a_face": counts.get("photos without a face", 0),
        "enrolments_lost": counts.get("enrolments lost", 0) + final["missing"],
        "stale_answers": counts.get("stale answers", 0) + final["stale"],
        "other_failures": {k: v for k, v in counts.items() if "answered" in k},
        "checks_after_writes": len(check_ids),
        "checks_answered_per_worker": dict(sorted(per_worker.items())),
        "background_matches": counts.get("background matches", 0),
        "final_sweep": final,
        "records_listed_at_end": total,
        "records_expected_at_end": counts.get("enrolled", 0) - counts.get("deleted", 0),
        "wall_s": round(wall, 1),
        "latency": {name: percentiles(values) for name, values in tally.samples.items()},
        "notes": tally.notes,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enrolments", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8, help="enrolling threads")
    parser.add_argument("--matchers", type=int, default=2, help="threads matching meanwhile")
    parser.add_argument("--checks", type=int, default=3, help="matches after each enrolment and each delete")
    parser.add_argument("--delete-every", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=900)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIR (gunicorn log)")
    args = parser.parse_args()

    photos = enrolment_photos(args.enrolments)
    with Deployment("agree", args.workers, args.database, keep=args.keep) as deployment:
        clients = deployment.clients(args.threads + args.matchers + 1, "agree")
        boot = deployment.server.start()
        figures = run(
            deployment.server, clients.pop, photos, threads=args.threads,
            matchers=args.matchers, checks=args.checks, delete_every=args.delete_every, time_limit=args.time_limit,
        )
    print_json(f"workers agree ({args.database}, {args.workers} workers, {len(photos)} photos offered)",
               {"boot_s": round(boot, 1), **figures})
    return 0 if figures["enrolments_lost"] == 0 and figures["stale_answers"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
