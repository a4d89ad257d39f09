"""Where the time of one `POST /records/match` goes, beyond the model: a profile by stage.

    python -m bench.match_profile                       # 10k gallery, 40 LFW probes x 3
    python -m bench.match_profile --large               # the 1,000-2,400 px sample photos
    python -m bench.match_profile --top 40              # also the 40 costliest functions
    FACE_EMBED_MIRROR=true python -m bench.match_profile   # the mirror embedding's model key

The request runs in this process through Django's test client: every middleware, DRF's parsing,
the API key's authentication and throttles, `matching.match` and the audit write, as gunicorn's
worker runs them, without the socket (gunicorn's share is the HTTP p50 of bench/latency.py less
these). The gallery is synthetic (random unit vectors, one person each, inserted as enrolment
writes them): search costs the same whoever is in it. One thread, after warm-up, under cProfile;
the stages are the cumulative times of the functions named below, per request. cProfile adds its
own cost to every Python call, so the total is above an unprofiled request's (printed beside it,
with its CPU time: this process's, which the load changes less than the wall time).
"""

import argparse
import os
import cProfile
import pstats
import shutil
import statistics
import time

import numpy as np

from . import galleries

# (stage, (file suffix, function name)): cumulative time of that function per request.
STAGES = (
    ("whole request (test client)", ("django/test/client.py", "post")),
    ("  Django handler and middleware", ("django/core/handlers/base.py", "_get_response")),
    ("    API key authentication", ("access/authentication.py", "authenticate")),
    ("    throttles", ("rest_framework/views.py", "check_throttles")),
    ("    multipart parsing", ("rest_framework/request.py", "_parse")),
    ("    matching.match", ("records/usecases/matching.py", "match")),
    ("      decode (Pillow, EXIF orientation)", ("recognition/imaging.py", "decode_image")),
    ("      analyse", ("recognition/service.py", "analyse_many")),
    ("        detection (SCRFD)", ("recognition/backends/insightface_onnx.py", "detect")),
    ("        alignment", ("recognition/backends/insightface_onnx.py", "align")),
    ("        embedding (MobileFaceNet)", ("recognition/backends/insightface_onnx.py", "embed")),
    ("        quality", ("recognition/quality.py", "measure")),
    ("      gallery search and people", ("records/usecases/matching.py", "search")),
    ("      audit event", ("audit/log.py", "record")),
    ("    JSON rendering", ("rest_framework/response.py", "rendered_content")),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="the large sample photos instead of LFW probes")
    parser.add_argument("--top", type=int, default=0, help="also print this many costliest functions")
    parser.add_argument("--stats", help="write the profile here (pstats format) to read it further")
    args = parser.parse_args()
    data_dir = galleries.use_private_data_dir("bench-match-profile-")
    os.environ["API_KEY_THROTTLE_RATE"] = "1000000/minute"  # one key sends every request
    try:
        profile(args)
    finally:
        shutil.rmtree(data_dir)


def profile(args) -> None:
    from .embeddings import setup_django

    setup_django()
    from django.core.management import call_command
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from recognition.service import get_service
    from access.models import ScopedAPIKey

    call_command("migrate", verbosity=0)
    service = get_service()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.gallery, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    galleries.insert_gallery([f"person-{i}" for i in range(args.gallery)], vectors, service.model_key)
    _, key = ScopedAPIKey.objects.create_key(name="bench-match-profile", scopes=["all"])
    if args.large:
        photos = [path.read_bytes() for _, path in galleries.large_samples()]
    else:
        photos = [path.read_bytes() for _, path in galleries.lfw_selection()[1][: args.probes]]
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_HOST="localhost")

    def post(photo: bytes):
        answer = client.post("/records/match", {"top_k": 5, "image": SimpleUploadedFile("photo.jpg", photo)})
        assert answer.status_code == 200, answer.content

    service.load()
    for photo in photos[:4]:
        post(photo)
    plain, cpu = [], []
    for _ in range(args.rounds):
        for photo in photos:
            started, cpu_started = time.perf_counter(), time.process_time()
            post(photo)
            plain.append(1000 * (time.perf_counter() - started))
            cpu.append(1000 * (time.process_time() - cpu_started))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.rounds):
        for photo in photos:
            post(photo)
    profiler.disable()
    requests = args.rounds * len(photos)
    stats = pstats.Stats(profiler)
    if args.stats:
        stats.dump_stats(args.stats)
    print(f"machine: {galleries.machine()}")
    print(f"{service.model_key}; gallery {args.gallery:,}; {len(photos)} {'large' if args.large else 'LFW 250 px'} "
          f"photos x {args.rounds}; unprofiled request p50 {statistics.median(plain):.1f} ms, "
          f"CPU p50 {statistics.median(cpu):.1f} ms")
    print(f"{'stage':48s} {'ms per request (profiled)':>26s}")
    for label, (suffix, name) in STAGES:
        total = max(
            (cumulative for (path, _, function), (_, _, _, cumulative, _) in stats.stats.items()
            if function == name and path.endswith(suffix)),
            default=0.0,
        )  # the outermost of nested namesakes (the test client's post calls its factory's post)
        print(f"{label:48s} {1000 * total / requests:26.2f}")
    if args.top:
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
