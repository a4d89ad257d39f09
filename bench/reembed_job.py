"""A re-embed of every photo through the API, as a background job, while the API keeps serving.

    python -m bench.reembed_job                          # 5,000 LFW photos, SQLite (the embedded default)
    python -m bench.reembed_job --database postgres      # the same on a PostgreSQL database of its own
    python -m bench.reembed_job --photos 300             # a quick look
    python -m bench.reembed_job --reuse DATA_DIR         # the gallery of an earlier --keep run (SQLite)

Not timed: a new DATA_DIR and database, migrated, and the first N LFW photos enrolled with
`manage.py import_faces` (folder per person) under `nice -n 10`, outside the benchmark lock.

Timed, under /tmp/bench.lock (one timed benchmark at a time on the machine): gunicorn with 2
workers and the job worker (`manage.py db_worker` at nice 10, as scripts/serve starts both), then
`POST /maintenance/rebuild-index?reembed=true`, `GET /maintenance/jobs/{id}` every second until it
ends (the progress samples), and meanwhile one client sending matches of LFW photos and list
requests (`GET /records?skip=&limit=100`) one after another. Reported: the job's total time and
state, its progress samples, and the latency of every request sent while it ran (max, p50/p95/p99,
and any over 1 s with the time it was sent).
"""

import argparse
import fcntl
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import galleries
from .serving import Deployment, JobWorker, Server, percentiles, print_json

LOCK = "/tmp/bench.lock"
SLOW = 1.0  # seconds: the bound for a request while the job runs


def enrol_gallery(deployment: Deployment, photos: int) -> float:
    """The first `photos` LFW photos through `manage.py import_faces`, at nice 10: not timed."""
    started = time.perf_counter()
    subprocess.run(
        ["nice", "-n", "10", sys.executable, "manage.py", "import_faces", str(galleries.faces_dir() / "lfw" / "images"),
         "--limit", str(photos), "--workers", "2", "-v0"],
        cwd=galleries.BASE_DIR, env=deployment.server.env, check=True, capture_output=True,
    )
    return time.perf_counter() - started


def probe_photos(count: int = 40) -> list[bytes]:
    """Second photos of people with several (some enrolled, some not: both answers are served)."""
    _, probes = galleries.lfw_selection(probes=count)
    return [path.read_bytes() for _, path in probes]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def serve_requests(client, probes: list[bytes], people: int, stop: threading.Event, sent: list) -> None:
    """One client: a match, then a list page, and again, until `stop`; each (kind, sent at, seconds, status)."""
    rng = random.Random(7)
    started = time.perf_counter()
    while not stop.is_set():
        status, _, seconds, _ = client.match(rng.choice(probes))
        sent.append(("match", round(time.perf_counter() - started - seconds, 2), seconds, status))
        skip = rng.randrange(max(1, people - 100))
        status, _, seconds, _ = client.call("GET", f"/records?skip={skip}&limit=100")
        sent.append(("list", round(time.perf_counter() - started - seconds, 2), seconds, status))


# The clients send as fast as they are answered: no rate limit, so every request is served and timed.
UNTHROTTLED = {"API_KEY_THROTTLE_RATE": "1000000/minute"}


def run(photos: int, database: str, keep: bool, reuse: Path | None) -> dict:
    with Deployment("reembed", workers=2, database=database, keep=keep or reuse is not None, **UNTHROTTLED) as deployment:
        if reuse is not None:  # a gallery a previous --keep run built (SQLite): not built again
            deployment.server = Server(2, reuse, f"sqlite:///{reuse / 'db.sqlite3'}", **UNTHROTTLED)
            deployment.server.migrate()
            build_seconds = 0.0
        else:
            build_seconds = enrol_gallery(deployment, photos)
        poller, loader = deployment.clients(2)  # a key each: each key has its own rate
        probes = probe_photos()
        with open(LOCK, "w") as lock:
            waited = time.perf_counter()
            fcntl.flock(lock, fcntl.LOCK_EX)
            figures = {"waited_for_lock_s": round(time.perf_counter() - waited, 1), "load_before": load_average()}
            worker = JobWorker(deployment.server, niceness=10)  # as scripts/serve runs it
            try:
                deployment.server.start()
                worker.start()
                figures.update(timed(poller, loader, probes))
            finally:
                worker.stop()
                deployment.server.stop()
            figures["load_after"] = load_average()
        figures.update(database=database, photos_enrolled_s=round(build_seconds, 1))
        figures["worker_log_tail"] = worker.output()[-600:]
        return figures


def timed(client, loader, probes: list[bytes]) -> dict:
    for _ in range(4):  # each gunicorn worker's first requests (imports, connections) before the clock
        status, body, _, _ = client.call("GET", "/records?limit=1")
        loader.match(probes[0])
    people = body["total_count"]
    sent, stop = [], threading.Event()
    load = threading.Thread(target=serve_requests, args=(loader, probes, people, stop, sent))
    status, job, seconds, _ = client.call("POST", "/maintenance/rebuild-index?reembed=true")
    if status != 202:
        raise RuntimeError(f"POST reembed answered {status}: {job}")
    started = time.perf_counter()
    load.start()
    samples = []
    while True:
        _, job, _, _ = client.call("GET", f"/maintenance/jobs/{job['id']}")
        samples.append({"s": round(time.perf_counter() - started, 1), "state": job["state"], **job["progress"]})
        if job["state"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    elapsed = time.perf_counter() - started
    stop.set()
    load.join()
    statuses = {}
    for *_, status in sent:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    sent = [request for request in sent if request[3] == 200]  # timed: the answers served
    latencies = [seconds for _, _, seconds, _ in sent]
    return {
        "people_in_gallery": people,
        "photos_in_gallery": job["progress"]["total"],
        "post_reembed_answered_s": round(seconds, 3),
        "job": {key: job[key] for key in ("state", "attempts", "created_at", "started_at", "finished_at", "error")},
        "job_result": {key: (value if key != "failed" else len(value)) for key, value in (job["result"] or {}).items()},
        "job_seconds_polled": round(elapsed, 1),
        "photos_per_s": round(job["progress"]["done"] / elapsed, 1),
        "progress_samples": len(samples),
        "distinct_progress_values": len({sample["done"] for sample in samples}),
        "progress_every_10th_sample": samples[::10] + samples[-1:],
        "requests_during_job": {kind: sum(1 for k, *_ in sent if k == kind) for kind in ("match", "list")},
        "request_statuses": statuses,
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        **percentiles(latencies),
        "by_kind": {kind: {"max_ms": round(max(s for k, _, s, _ in sent if k == kind) * 1000, 1),
                           **percentiles([s for k, _, s, _ in sent if k == kind])}
                    for kind in ("match", "list") if any(k == kind for k, *_ in sent)},
        "over_1s": [{"kind": kind, "sent_at_s": at, "ms": round(seconds * 1000)} for kind, at, seconds, _ in sent
                    if seconds > SLOW],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIR (gunicorn and worker logs)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--reuse", type=Path, help="the DATA_DIR of a --keep run (SQLite): its gallery, not built again")
    args = parser.parse_args()
    figures = {"machine": galleries.machine(), "command": " ".join(sys.argv), **run(args.photos, args.database, args.keep, args.reuse)}
    print_json("re-embed as a background job", figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    over = figures.get("over_1s", [])
    sys.exit(0 if figures["job"]["state"] == "succeeded" and not over else 1)


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    main()
