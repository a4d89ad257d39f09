"""Property 2, crash safety: `kill -9` every server process in the middle of a burst of enrolments
and deletes, restart, and the database, the stored files and every worker's index agree.

    python -m bench.crash_safety                 # 3 rounds, 2 workers, PostgreSQL
    python -m bench.crash_safety --rounds 5 --workers 3

gunicorn on a PostgreSQL database of its own (bench/serving.py), seeded with --seed people. Each
round: --threads client threads enrol real LFW photos and delete people enrolled earlier, as fast
as the server answers; between 1 and --kill-within seconds in, SIGKILL goes to the gunicorn master
and every worker at once (their process group), with requests in flight. Then gunicorn is started
again and, in this order:
  - `manage.py check_integrity` reports what differs (a photo being saved at the kill has its
    file written before its row commits, so a stray file is the one expected difference);
  - when something differs, `check_integrity --repair` repairs it, and `check_integrity` must then
    exit 0 ("everything agrees");
  - every acknowledged enrolment (201 received) is still there and found by a match, every
    acknowledged delete (200 received) is gone from the database and from every answer;
  - each worker's /health (asked until every worker has answered) reports an index the size of
    the vectors stored.
Bounded: --rounds rounds, each burst at most --kill-within seconds.
"""

import argparse
import itertools
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .serving import Deployment, Tally, lfw_people, print_json

CHECK_LINE = re.compile(r"^(rows whose photo file is missing|stored files with no row|rows missing from the index|"
                        r"index vectors with no row): (\d+)$", re.MULTILINE)


def integrity(server, repair: bool = False) -> tuple[int, dict]:
    done = server.manage("check_integrity", *(["--repair"] if repair else []), check=False)
    return done.returncode, {label: int(count) for label, count in CHECK_LINE.findall(done.stdout)}


def photo_stream():
    """(name, photo) of LFW people in turn, each person's photos one after another."""
    for name, photos in itertools.cycle(lfw_people().items()):
        for path in photos[:2]:
            yield name, path.read_bytes()


def lost_answer(body: dict) -> str:
    """Sent before the kill and cut off by it, or refused because the server was already gone."""
    refused = "NewConnectionError" in body.get("error", "") or "Connection refused" in body.get("error", "")
    return "refused after the kill" if refused else "in flight at the kill"


def burst(clients, photos, people: dict, tally: Tally, stop: threading.Event, stream_lock) -> None:
    """Enrol and delete until `stop`; record what was acknowledged before the kill."""

    def work(client, chooser):
        while not stop.is_set():
            with stream_lock:
                name, photo = next(photos)
                victim = chooser.choice(sorted(people["live"])) if people["live"] and chooser.random() < 0.3 else None
                if victim:
                    people["live"].discard(victim)
            if victim:
                status, body, _, _ = client.delete(victim)
                if status == 200:
                    people["deleted"].add(victim)
                    tally.count("deletes acknowledged")
                elif status is None:  # cut off: either outcome is fine; refused: never sent
                    tally.count(f"deletes {lost_answer(body)}")
                    if lost_answer(body) == "refused after the kill":
                        with stream_lock:
                            people["live"].add(victim)
                else:
                    tally.count(f"delete answered {status}")
                continue
            status, body, _, _ = client.enrol(name, photo)
            if status == 201:
                with stream_lock:
                    people["live"].add(body["record"]["id"])
                    people["photo"][body["record"]["id"]] = photo
                tally.count("enrolments acknowledged")
            elif status is None:
                tally.count(f"enrolments {lost_answer(body)}")
            elif status != 422:
                tally.count(f"enrol answered {status}")

    threads = [threading.Thread(target=work, args=(client, random.Random(n))) for n, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    return threads


def every_worker_health(server, client, attempts: int = 40) -> dict[int, dict]:
    """/health from each worker: ask until every worker pid has answered (or attempts run out).

    Asked as many at a time as there are workers: one question at a time goes to whichever idle
    worker accepts first, and on a quiet machine that is the one that just answered, every time."""
    answers = {}
    for _ in range(attempts):
        with ThreadPoolExecutor(server.workers) as pool:
            replies = list(pool.map(lambda _: client.call("GET", "/health"), range(server.workers)))
        served_by = server.served_by([request_id for *_, request_id in replies])
        for status, body, _, request_id in replies:
            pid = served_by.get(request_id)
            if status == 200 and pid is not None:
                model = next(m for m in body["models"].values() if m["active"])
                answers[pid] = {"index_size": model["index_size"], "stored_vectors": model["stored_vectors"]}
        if len(answers) == server.workers:
            break
    return answers


def verify(server, client, people: dict, sample: int) -> dict:
    """Acknowledged enrolments present and matched, acknowledged deletes gone everywhere."""
    lost = resurrected = unmatched = stale = 0
    live = sorted(people["live"])
    for person_id in live:
        lost += client.call("GET", f"/records/{person_id}")[0] != 200
    for person_id in sorted(people["deleted"]):
        resurrected += client.call("GET", f"/records/{person_id}")[0] != 404
    for person_id in random.Random(0).sample(live, min(sample, len(live))):
        answer = client.match(people["photo"][person_id])[1]
        ids = {m["id"] for m in answer.get("top_matches", [])}
        unmatched += person_id not in ids
        stale += len(ids & people["deleted"])
    return {"acknowledged_enrolments_lost": lost, "acknowledged_deletes_back": resurrected,
            "sampled_matches": min(sample, len(live)), "sampled_not_found": unmatched, "stale_answers": stale}


def run(server, clients, check_client, rounds=3, kill_within=5.0, seed=8, sample=10) -> dict:
    photos = photo_stream()
    stream_lock = threading.Lock()
    people = {"live": set(), "deleted": set(), "photo": {}}
    for _ in range(seed):
        name, photo = next(photos)
        status, body, _, _ = check_client.enrol(name, photo)
        if status == 201:
            people["live"].add(body["record"]["id"])
            people["photo"][body["record"]["id"]] = photo
    results = []
    for number in range(rounds):
        tally = Tally()
        stop = threading.Event()
        threads = burst(clients, photos, people, tally, stop, stream_lock)
        time.sleep(random.Random(number).uniform(1.0, kill_within))
        stop.set()  # no new request from here: those under way are cut off by the kill
        killed = server.kill9()
        for thread in threads:
            thread.join()
        # An enrolment or a delete whose answer was lost may or may not have committed: neither is
        # looked for (a person is taken out of "live" when their delete is sent).
        restart_s = server.start()
        code, before = integrity(server)
        repaired = None
        if code != 0:
            repaired = integrity(server, repair=True)[1]
            code, after = integrity(server)
        else:
            after = before
        health = every_worker_health(server, check_client)
        result = {
            "round": number + 1,
            "processes_killed": len(killed),
            **tally.counts,
            "restart_to_ready_s": round(restart_s, 1),
            "check_integrity_before_repair": before,
            "repaired": repaired is not None,
            "check_integrity_after": after,
            "check_integrity_exit": code,
            "workers_index_vs_stored": health,
            "workers_agree": len(health) == server.workers
            and all(h["index_size"] == h["stored_vectors"] for h in health.values()),
            **verify(server, check_client, people, sample),
        }
        results.append(result)
    return {"rounds": results, "all_clean": all(
        r["check_integrity_exit"] == 0 and r["workers_agree"] and not r["acknowledged_enrolments_lost"]
        and not r["acknowledged_deletes_back"] and not r["sampled_not_found"] and not r["stale_answers"]
        for r in results
    )}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=8, help="people enrolled before the first burst")
    parser.add_argument("--kill-within", type=float, default=5.0, help="seconds: the kill comes 1 s to this in")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    with Deployment("crash", args.workers, args.database, keep=args.keep) as deployment:
        clients = deployment.clients(args.threads + 1, "crash")
        deployment.server.start()
        figures = run(deployment.server, clients[1:], clients[0], args.rounds, args.kill_within, args.seed)
    print_json(f"crash safety ({args.database}, {args.workers} workers, {args.threads} threads)", figures)
    return 0 if figures["all_clean"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
