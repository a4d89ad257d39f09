"""End-to-end latency of the REST API, served by gunicorn as in production.

    python -m bench.latency                          # galleries of 1k, 10k and 100k people, ~10 minutes
    python -m bench.latency --sizes 10000 --requests 20

For each gallery size (ascending, in one new DATA_DIR under the temp folder) the database is
filled, then gunicorn is started with the production settings (`gunicorn facesite.wsgi -c
facesite/gunicorn.conf.py`: WEB_CONCURRENCY workers of WEB_THREADS threads, each loading and warming its
model and index as it boots) on a free loopback port, and stopped after the measurements.

The gallery: the 2,000 real LFW embeddings of bench/galleries.py, then synthetic vectors (same
module) up to the size, inserted in bulk as the rows enrolment writes (no photo files: matching
never reads them). The photos sent over HTTP are real: LFW 250x250 probes of people in the gallery,
and "large" sample photos whose longest side is 1,000-2,400 px (samples/manifest.csv).

Measured at every size: cold start (gunicorn process start to the first answered match, and to
every worker ready), POST /records/match p50/p95/p99 with one client, RSS of each worker. At the
main size (--main-size) also: 1, 2 and 4 concurrent clients (throughput = answered requests / wall
time; and the workers' CPU time per request, from which the matches per second the machine's cores
could answer if nothing else ran on them: cores x 1000 / CPU-ms), and POST /records (enrolment)
with LFW photos not in the gallery and large photos.
Clients are threads of this process using http.client (gunicorn closes each connection: no
keep-alive). Writes bench/latency.json and the plots bench/latency_vs_concurrency.png and
bench/latency_vs_gallery.png.
"""

import argparse
import http.client
import json
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from facesite import app_server

from . import galleries
from .serving import HOST, Server


def multipart(fields: dict, image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """POSTs over a new http.client connection each, timed from request to body read (not
    bench.serving.Client, whose `requests` session would add its own overhead to the latencies)."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key

    def post(self, path: str, fields: dict, image: bytes, timeout: float = 120) -> tuple[int, float, dict]:
        body, content_type = multipart(fields, image)
        started = time.perf_counter()
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            connection.request(
                "POST", path, body, {"Content-Type": content_type, "Authorization": f"Api-Key {self.key}"}
            )
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        elapsed = time.perf_counter() - started
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = {}
        return response.status, elapsed, answer


def cold_start(server: Server, client: Client, probe: bytes, started: float, limit: float = 300) -> dict:
    first = None
    while time.perf_counter() - started < limit:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}; see {server.log}")
        try:
            status, _, _ = client.post("/records/match", {"top_k": 5}, probe)
        except OSError:
            time.sleep(0.05)
            continue
        if status == 200:
            first = time.perf_counter() - started
            break
        raise RuntimeError(f"match answered {status} during start-up; see {server.log}")
    while server.ready_workers() < server.workers and time.perf_counter() - started < limit:
        time.sleep(0.05)
    return {"first_match_s": first, "all_workers_ready_s": time.perf_counter() - started}


def load(client: Client, path: str, photos: list[bytes], fields, requests: int, concurrency: int, server=None) -> dict:
    """`requests` posts from `concurrency` threads, photos taken in turn; latencies and throughput,
    and with `server` the workers' CPU time per request: on a machine other work shares, what the
    cores could answer if they were free is cores / that, whatever this run's wall throughput."""
    cpu_before = server.worker_cpu_seconds() if server else None
    latencies, statuses, processing, lock = [], [], [], threading.Lock()
    counter = iter(range(requests))

    def work():
        for number in counter:  # the shared iterator hands each request number to one thread
            status, elapsed, answer = client.post(path, fields(number), photos[number % len(photos)])
            with lock:
                latencies.append(elapsed)
                statuses.append(status)
                if "processing_time_ms" in answer:
                    processing.append(answer["processing_time_ms"])

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu = server.worker_cpu_seconds() - cpu_before if server else float("nan")
    ok = [latency for latency, status in zip(latencies, statuses) if status in (200, 201)]
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "ok": len(ok),
        "statuses": sorted(set(statuses)),
        "p50_ms": 1000 * galleries.percentile(ok, 50),
        "p95_ms": 1000 * galleries.percentile(ok, 95),
        "p99_ms": 1000 * galleries.percentile(ok, 99),
        "throughput_per_s": len(ok) / wall,
        "worker_cpu_ms_per_request": 1000 * cpu / max(1, len(latencies)),
        # matching.match's own timing (decode to answer body), without HTTP, parsing and auth
        "service_p50_ms": galleries.percentile(processing, 50),
    }


def fill_to(size: int, filled: int, real: np.ndarray, real_names, synthetic: np.ndarray, model_key: str) -> int:
    if size <= filled:
        return filled
    names, vectors = [], []
    if filled < len(real):
        upto = min(size, len(real))
        names += real_names[filled:upto]
        vectors.append(real[filled:upto])
    start = max(0, filled - len(real))
    stop = size - len(real)
    if stop > start:
        names += [f"synthetic-{i:07d}" for i in range(start, stop)]
        vectors.append(synthetic[start:stop])
    galleries.insert_gallery(names, np.concatenate(vectors), model_key)
    return size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--main-size", type=int, default=10000)
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--requests", type=int, default=30, help="match requests per photo class and concurrency")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each on a newly started server")
    parser.add_argument("--enrol-requests", type=int, default=20)
    parser.add_argument("--workers", type=int, default=app_server.WEB_CONCURRENCY)
    parser.add_argument("--json", default="bench/latency.json")
    parser.add_argument("--plots", default="bench", help="folder for the PNG plots ('' for none)")
    parser.add_argument("--keep-data", action="store_true", help="keep the DATA_DIR (database, gunicorn logs)")
    parser.add_argument("--plot-only", action="store_true", help="redraw the plots from --json, measure nothing")
    args = parser.parse_args()
    if args.plot_only:
        plot(json.loads(Path(args.json).read_text()), args.main_size, Path(args.plots))
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    data_dir = galleries.use_private_data_dir("bench-latency-")
    try:
        measure(args, sizes, concurrencies, data_dir)
    finally:
        if not args.keep_data:
            shutil.rmtree(data_dir)  # the embedding cache is a symlink: rmtree removes only the link


def measure(args, sizes, concurrencies, data_dir: Path) -> None:
    from .embeddings import setup_django

    setup_django()
    from django.core.management import call_command
    from access.models import ScopedAPIKey

    from recognition.service import get_service

    call_command("migrate", verbosity=0)
    _, key = ScopedAPIKey.objects.create_key(name="bench-latency", scopes=["all"])
    model_key = get_service().model_key

    gallery, probes = galleries.lfw_selection()
    embeddings = galleries.real_embeddings([p for _, p in gallery + probes])
    in_gallery = [(name, path) for name, path in gallery if str(path) in embeddings]
    real = np.stack([embeddings[str(p)] for _, p in in_gallery])
    real_names = [name for name, _ in in_gallery]
    synthetic = galleries.synthetic_vectors(real, max(0, max(sizes) - len(real)))
    lfw_photos = [path.read_bytes() for _, path in probes[:40]]
    large = galleries.large_samples()
    large_photos = [path.read_bytes() for _, path in large]
    # Enrolment photos: LFW people beyond the gallery (never enrolled), and the large samples.
    newcomers = galleries.lfw_selection(gallery_size=len(gallery) + args.enrol_requests)[0][len(gallery) :]
    newcomer_photos = [path.read_bytes() for _, path in newcomers]

    results = {"machine": galleries.machine(), "workers": args.workers, "repeat": args.repeat, "sizes": []}
    filled = 0
    for size in sizes:
        filled = fill_to(size, filled, real, real_names, synthetic, model_key)
        rounds = []
        for number in range(args.repeat):
            # DATABASE_URL as this process has it: the server serves the gallery filled here.
            # One key drives every client thread here, and this measures what the workers can answer
            # (the default per-key limits are chosen from it): the per-key limits are lifted.
            server = Server(
                args.workers, data_dir, log=data_dir / f"gunicorn-{size}-{number}.log",
                API_KEY_THROTTLE_RATE="1000000/minute", API_KEY_CONCURRENT_REQUESTS=max(concurrencies),
            )
            try:
                started = server.launch()
                client = Client(server.port, key)
                entry = {"gallery": size, "cold_start": cold_start(server, client, lfw_photos[0], started)}
                for photo in lfw_photos[: 2 * args.workers] + large_photos[:2]:  # one warm-up round per worker
                    client.post("/records/match", {"top_k": 5}, photo)
                entry["match"] = {}
                for label, photos in (("lfw_250", lfw_photos), ("large", large_photos)):
                    levels = concurrencies if size == args.main_size else [1]
                    entry["match"][label] = [
                        load(client, "/records/match", photos, lambda n: {"top_k": 5}, args.requests, c, server)
                        for c in levels
                    ]
                    print(f"{size:,} round {number + 1}: match {label} c=1 p50 "
                          f"{entry['match'][label][0]['p50_ms']:.0f} ms", flush=True)
                if size == args.main_size:
                    entry["enrol"] = {
                        "lfw_250": load(
                            client, "/records", newcomer_photos, lambda n: {"name": f"newcomer-{n}"},
                            len(newcomer_photos), 1,
                        ),
                        "large": load(
                            client, "/records", large_photos, lambda n: {"name": f"large-{n}"},
                            min(args.enrol_requests, len(large_photos)), 1,
                        ),
                    }
                    filled += entry["enrol"]["lfw_250"]["ok"] + entry["enrol"]["large"]["ok"]
                entry["workers"] = server.worker_memory()
                rounds.append(entry)
            finally:
                server.stop()
        results["sizes"].append(median_of(rounds))

    results["large_photos"] = [str(path.relative_to(galleries.faces_dir())) for _, path in large]
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results))
    if args.plots:
        plot(results, args.main_size, Path(args.plots))


def median_of(rounds: list) -> dict:
    """The rounds' medians, number by number, of results of the same shape; the per-round values of
    p50s and cold starts are kept beside them (`<name>_rounds`)."""
    first = rounds[0]
    if isinstance(first, dict):
        merged = {key: median_of([r[key] for r in rounds]) for key in first}
        for key in ("p50_ms", "first_match_s"):
            if key in first:
                merged[f"{key}_rounds"] = [r[key] for r in rounds]
        return merged
    if isinstance(first, list) and first and isinstance(first[0], (dict, list)):
        return [median_of(list(items)) for items in zip(*rounds)]
    if isinstance(first, bool) or not isinstance(first, (int, float)):
        return first if all(r == first for r in rounds) else rounds
    return float(np.median(rounds))


def report(results) -> str:
    lines = [
        f"machine: {results['machine']}; gunicorn workers: {results['workers']}",
        f"every figure is the median of {results['repeat']} rounds, each on a newly started server "
        "(the per-round p50s are in the JSON)",
        "",
    ]
    lines += [
        "| gallery | photos | clients | requests | p50 (ms) | p95 (ms) | p99 (ms) | throughput (/s) "
        "| matching.match p50 (ms) | worker CPU per request (ms) | the cores free could answer (/s) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results["sizes"]:
        for label, rows in entry["match"].items():
            for row in rows:
                lines.append(
                    f"| {entry['gallery']:,.0f} | {label} | {row['concurrency']:.0f} "
                    f"| {row['ok']:.0f}/{row['requests']:.0f} "
                    f"| {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} | {row['throughput_per_s']:.2f} "
                    f"| {row['service_p50_ms']:.0f} | {row['worker_cpu_ms_per_request']:.0f} "
                    f"| {1000 * (os.cpu_count() or 1) / row['worker_cpu_ms_per_request']:.1f} |"
                )
    lines += [
        "",
        "| gallery | cold start: first match (s) | all workers ready (s) | worker RSS (MB) | TensorFlow loaded |",
        "|---:|---:|---:|---|---|",
    ]
    for entry in results["sizes"]:
        memory = ", ".join(f"{w['rss_mb']:.0f}" for w in entry["workers"])
        tensorflow = "yes" if any(w["tensorflow_loaded"] for w in entry["workers"]) else "no"
        cold = entry["cold_start"]
        lines.append(
            f"| {entry['gallery']:,.0f} | {cold['first_match_s']:.1f} | {cold['all_workers_ready_s']:.1f} "
            f"| {memory} | {tensorflow} |"
        )
    for entry in results["sizes"]:
        for label, row in entry.get("enrol", {}).items():
            lines.append(
                f"\nPOST /records ({label}, gallery {entry['gallery']:,.0f}, 1 client): "
                f"{row['ok']:.0f}/{row['requests']:.0f} "
                f"enrolled (statuses {row['statuses']}), p50 {row['p50_ms']:.0f} ms, p95 {row['p95_ms']:.0f} ms"
            )
    return "\n".join(lines)


def plot(results, main_size: int, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = next((e for e in results["sizes"] if e["gallery"] == main_size), None)
    if main:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
        for label, rows in main["match"].items():
            clients = [r["concurrency"] for r in rows]
            left.plot(clients, [r["p50_ms"] for r in rows], "o-", label=f"{label} p50")
            left.plot(clients, [r["p95_ms"] for r in rows], "o--", label=f"{label} p95")
            right.plot(clients, [r["throughput_per_s"] for r in rows], "s-", label=label)
        left.set_xlabel("concurrent clients")
        left.set_ylabel("POST /records/match latency (ms)")
        right.set_xlabel("concurrent clients")
        right.set_ylabel("matches per second")
        for axis in (left, right):
            axis.set_xticks([r["concurrency"] for r in rows])
            axis.grid(True, alpha=0.3)
            axis.legend(fontsize=8)
        fig.suptitle(f"Latency and throughput against concurrency ({main_size:,} people, {results['workers']} workers)")
        fig.tight_layout()
        fig.savefig(folder / "latency_vs_concurrency.png", dpi=100)

    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [e["gallery"] for e in results["sizes"]]
    for label in ("lfw_250", "large"):
        ax.plot(sizes, [e["match"][label][0]["p50_ms"] for e in results["sizes"]], "o-", label=f"match p50, {label}")
        ax.plot(sizes, [e["match"][label][0]["p95_ms"] for e in results["sizes"]], "o--", label=f"match p95, {label}")
    scale = folder / "scale.json"
    if scale.exists():  # index search alone, from bench/scale.py
        rows = json.loads(scale.read_text())["results"]
        searches = [r["search_people_ms"] for r in rows]
        ax.plot([r["size"] for r in rows], searches, "k^-", label="index search alone (flat)")
    galleries.save_log_log_plot(
        fig, ax, folder / "latency_vs_gallery.png", "people in the gallery", "ms",
        "Match latency against gallery size (1 client)",
    )


if __name__ == "__main__":
    main()
