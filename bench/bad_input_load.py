"""Property 4, bad input under load: the REST API's bad-input matrix sent concurrently with normal
traffic. Every bad request gets its documented status (docs/api.md), and the normal requests are
unaffected: all answered, right, and about as fast as without the bad traffic.

    python -m bench.bad_input_load                  # 2 phases of 15 s
    python -m bench.bad_input_load --duration 60

gunicorn with --workers workers (default 2) on a PostgreSQL database of its own
(bench/serving.py), seeded through the API with --seed real LFW people. Phase 1: --clients normal
clients (bench/load.py's mixed match/enrol traffic) alone for --duration seconds. Phase 2: the same
normal traffic, plus --bad-clients threads cycling through the matrix below as fast as they are
answered, for --duration seconds. Each client has its own API key. Bounded by time and
--max-requests per phase.
"""

import argparse
import json
import random
import threading

from tests.api.samples import SVG, TEXT, image_bytes, png_claiming

from .load import photo_sets, run_threads, seed_gallery, summary, traffic
from .serving import Client, Deadline, Deployment, Tally, faces_dir, percentiles, print_json


def bad_inputs(jpeg: bytes, group_photo: bytes, person_id: str) -> list[tuple[str, int, dict]]:
    """(case, documented status, request) of the REST API's bad-input matrix."""
    oversized = b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024 + 100_000)  # over the default MAX_UPLOAD_BYTES

    def enrol(data: bytes, name: str = "photo.jpg", **fields) -> dict:
        return {"method": "POST", "path": "/records",
                "files": {"image": (name, data)}, "data": {"name": "Somebody", **fields}}

    def match(data: bytes, **fields) -> dict:
        return {"method": "POST", "path": "/records/match", "files": {"image": ("photo.jpg", data)}, "data": fields}

    return [
        ("no API key", 401, {"method": "GET", "path": "/records", "key": None}),
        ("wrong API key", 401, {"method": "GET", "path": "/records", "key": "not.a-key"}),
        ("empty file", 400, enrol(b"", "empty.jpg")),
        ("text file named .jpg", 400, enrol(TEXT)),
        ("truncated JPEG", 400, match(jpeg[: len(jpeg) // 2])),
        ("GIF", 400, enrol(image_bytes(image_format="GIF"), "photo.gif")),
        ("SVG", 400, match(SVG)),
        ("1x1 image", 400, enrol(image_bytes((1, 1)), "dot.png")),
        ("decompression bomb", 413, match(png_claiming(30000, 30000))),
        ("body over MAX_UPLOAD_BYTES", 413, enrol(oversized)),
        ("no face", 422, match(image_bytes((64, 64)))),
        ("two faces, strict", 422, enrol(group_photo, strict="true")),
        ("metadata not JSON", 400, enrol(jpeg, metadata="{department: Engineering}")),
        ("name missing", 400, {**enrol(jpeg), "data": {}}),
        ("no image", 400, {"method": "POST", "path": "/records/match", "data": {"top_k": "3"}}),
        ("top_k 0", 400, match(jpeg, top_k="0")),
        ("threshold abc", 400, match(jpeg, threshold="abc")),
        ("limit 1001", 400, {"method": "GET", "path": "/records?limit=1001"}),
        ("unknown record id", 404, {"method": "GET", "path": "/records/7c9e6679-7425-40de-944b-e07fc1f90ae7"}),
        ("malformed record id", 404, {"method": "DELETE", "path": "/records/not-a-uuid"}),
        ("malformed JSON", 400, {"method": "PATCH", "path": f"/records/{person_id}", "data": '{"name": ',
                                 "headers": {"Content-Type": "application/json"}}),
        ("not multipart", 415, {"method": "POST", "path": "/records/match", "data": "hello",
                                "headers": {"Content-Type": "text/plain"}}),
    ]


def send(client: Client, request: dict):
    request = dict(request)
    if "key" in request:  # the auth cases: no key, or a wrong one
        client = Client(client.base_url, request.pop("key"))
    return client.call(request.pop("method"), request.pop("path"), **request)


def bad_traffic(clients, cases, tally: Tally, deadline: Deadline, budget):
    def work(client, chooser):
        order = list(cases)
        while not deadline.passed():
            chooser.shuffle(order)
            for case, expected, request in order:
                if deadline.passed() or next(budget, None) is None:
                    return
                status, body, elapsed, _ = send(client, request)
                tally.count("bad requests")
                tally.sample("bad", elapsed)
                if status == expected:
                    tally.count(f"case {case}: {status}")
                else:
                    tally.count("bad requests with another status")
                    tally.count(f"case {case}: {status} (documented {expected})")
                    tally.note(f"{case}: {status} instead of {expected}: {json.dumps(body)[:200]}")

    return [threading.Thread(target=work, args=(client, random.Random(n))) for n, client in enumerate(clients)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15, help="seconds of each phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4, help="normal clients")
    parser.add_argument("--bad-clients", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--max-requests", type=int, default=5000, help="per phase and kind of traffic")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    gallery, probes, new_photos = photo_sets(args.seed)
    group_photo = (faces_dir() / "samples" / "group" / "kit_with_rose.jpg").read_bytes()
    with Deployment("badinput", args.workers, args.database, keep=args.keep) as deployment:
        clients = deployment.clients(args.clients + args.bad_clients, "badinput")
        normal, bad = clients[: args.clients], clients[args.clients:]
        deployment.server.start()
        ids = seed_gallery(normal, gallery)
        cases = bad_inputs(next(iter(gallery.values())), group_photo, next(iter(ids.values())))

        alone = Tally()
        wall = run_threads(traffic(normal, probes, new_photos, ids, alone, Deadline(args.duration),
                                   iter(range(args.max_requests)), 0.8))
        baseline = summary(alone, wall)

        mixed = Tally()
        deadline = Deadline(args.duration)
        threads = traffic(normal, probes, new_photos, ids, mixed, deadline, iter(range(args.max_requests)), 0.8)
        threads += bad_traffic(bad, cases, mixed, deadline, iter(range(args.max_requests)))
        wall = run_threads(threads)
        under_bad_input = summary(mixed, wall)

    figures = {
        "cases": len(cases),
        "bad_requests": mixed.counts.get("bad requests", 0),
        "bad_requests_with_another_status": mixed.counts.get("bad requests with another status", 0),
        "bad_latency": percentiles(mixed.samples.get("bad", [])),
        "per_case": {k[5:]: v for k, v in sorted(mixed.counts.items()) if k.startswith("case ")},
        "normal_alone": baseline,
        "normal_with_bad_input": under_bad_input,
        "notes": mixed.notes,
    }
    print_json(f"bad input under load ({args.database}, {args.workers} workers, {args.clients} normal + "
               f"{args.bad_clients} bad clients, 2 x {args.duration:.0f} s)", figures)
    clean = not figures["bad_requests_with_another_status"] and not baseline["errors"] and not under_bad_input["errors"]
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
