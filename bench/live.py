"""The live page's frames (live/, issue 24): the frame endpoint's latency at 640 px, and the time
from a face's appearance to its event at a webhook receiver in door mode.

    python -m bench.live                   # PostgreSQL database of its own (default), or --database sqlite

Not timed: a new DATA_DIR and database, migrated; gunicorn with 2 workers (bench.serving, as
scripts/serve runs it) and one `manage.py db_worker`; Colin Powell and Tony Blair enrolled through
the API (LFW photo 0 each); a Managers user logged in through the login form (a session and its
CSRF token, as the page's script sends them); a webhook for face.recognized/face.unknown to a
receiver on a loopback port. Frames are 640x480 JPEGs (quality 85, as static/js/live.js sends):
two LFW photos side by side on black, a known face and a stranger (Serena Williams).

1. frame: `--frames` frames POSTed one after the other (as the page does: one at a time), door
   mode off; the round trip per frame, p50/p95/p99, and the server's own processing_time_ms.
2. appearance to event: door mode on, LIVE_REPEAT_SECONDS 1; `--appearances` times, a frame with
   someone (alternately Powell, Blair) is POSTed after more than the repeat window without them
   (a new appearance); the time from the start of that frame's POST to the arrival of its
   face.recognized at the receiver, p50/p95/p99. This includes the worker's poll (0.2 s here;
   the library's default, which scripts/serve keeps, is 1 s).
"""

import argparse
import io
import json
import os
import time
from pathlib import Path

import requests
from PIL import Image

from .receiver import Receiver
from .serving import Deployment, JobWorker, free_port, percentiles, print_json

LFW = Path(os.environ.get("FACES_DIR", Path(__file__).resolve().parents[2] / "shared" / "faces")) / "lfw" / "images"
KNOWN = ["Colin_Powell", "Tony_Blair"]
STRANGER = "Serena_Williams"
PASSWORD = "a long bench password"


def lfw(identity: str, number: int) -> Image.Image:
    return Image.open(LFW / identity / f"{identity}_{number:04d}.jpg").convert("RGB")


def frame(*people: Image.Image) -> bytes:
    """A 640x480 JPEG: the photos side by side, scaled to the width, on black."""
    row = Image.new("RGB", (sum(p.width for p in people), max(p.height for p in people)))
    x = 0
    for person in people:
        row.paste(person, (x, 0))
        x += person.width
    row = row.resize((640, round(row.height * 640 / row.width)))
    canvas = Image.new("RGB", (640, 480))
    canvas.paste(row, (0, (480 - row.height) // 2))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()


def logged_in(base_url: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base_url}/accounts/login/", timeout=30)
    answer = session.post(f"{base_url}/accounts/login/", allow_redirects=False, timeout=30,
                          data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert answer.status_code == 302, answer.text[:300]
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


def post_frame(session: requests.Session, base_url: str, data: bytes, door: bool) -> tuple[dict, float]:
    started = time.perf_counter()
    answer = session.post(f"{base_url}/live/frame", files={"frame": ("frame.jpg", data, "image/jpeg")},
                          data={"door": "1"} if door else {}, timeout=60)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text[:300]
    return answer.json(), elapsed


def run(frames: int, appearances: int, database: str) -> dict:
    port = free_port()
    env = {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "LIVE_REPEAT_SECONDS": "1"}
    with Deployment("live", workers=2, database=database, **env) as deployment:
        os.environ.update(deployment.server.env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
        import django

        django.setup()
        from django.contrib.auth.models import Group, User

        from events.subscriptions import create_webhook

        deployment.server.start()
        [api] = deployment.clients(1)
        ids = {}
        for identity in KNOWN:
            status, body, _, _ = api.enrol(identity.replace("_", " "), (LFW / identity / f"{identity}_0001.jpg").read_bytes())
            assert status == 201, body
            ids[identity] = body["record"]["id"]
        User.objects.create_user("bench", password=PASSWORD).groups.add(Group.objects.get(name="Managers"))
        base = deployment.server.base_url
        session = logged_in(base, "bench")
        stranger = lfw(STRANGER, 1)
        frames_of = {identity: frame(lfw(identity, 2), stranger) for identity in KNOWN}
        results = {}

        post_frame(session, base, frames_of[KNOWN[0]], door=False)  # each worker's first request warms it
        post_frame(session, base, frames_of[KNOWN[0]], door=False)
        trips, processing, named = [], [], 0
        for number in range(frames):
            answer, elapsed = post_frame(session, base, frames_of[KNOWN[number % 2]], door=False)
            trips.append(elapsed)
            processing.append(answer["processing_time_ms"] / 1000)
            named += sorted(f["record_id"] or "" for f in answer["faces"]) == sorted(["", ids[KNOWN[number % 2]]])
        results["frame_640px"] = {"frames": frames, "named_right": named, "round_trip": percentiles(trips),
                                  "server_processing": percentiles(processing)}

        with Receiver(port=port) as receiver:
            create_webhook(receiver.url, ["face.recognized"])
            worker = JobWorker(deployment.server).start()
            try:
                time.sleep(3)  # the worker's start
                sent = {}
                for number in range(appearances):
                    identity = KNOWN[number % 2]
                    time.sleep(1.2)  # longer than LIVE_REPEAT_SECONDS without them: a new appearance
                    started = time.time()
                    answer, _ = post_frame(session, base, frames_of[identity], door=True)
                    assert any(f["announced"] and f["record_id"] == ids[identity] for f in answer["faces"]), answer
                    sent[number] = started
                receiver.wait_for(appearances, 60)
                arrivals = sorted(r.at for r in receiver.received
                                  if json.loads(r.body)["type"] == "face.recognized")
                # Each appearance's event arrives before the next appearance's frame is sent (1.2 s on).
                delays = [arrived - sent[n] for n, arrived in enumerate(arrivals[:appearances])]
                results["appearance_to_event"] = {"appearances": appearances, "events": len(arrivals), **percentiles(delays),
                                                  "max_ms": round(max(delays) * 1000, 1)}
            finally:
                worker.stop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--appearances", type=int, default=40)
    parser.add_argument("--database", default="postgres", choices=["postgres", "sqlite"])
    arguments = parser.parse_args()
    print_json("live", run(arguments.frames, arguments.appearances, arguments.database))


if __name__ == "__main__":
    main()
