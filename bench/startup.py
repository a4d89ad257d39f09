"""Worker start-up with and without the weight-file verification (recognition/weights.py).

    python -m bench.startup                 # both offline pipelines, 5 fresh processes per case, ~2 minutes
    python -m bench.startup --runs 9 --pipelines Dlib:dlib

Each figure is one new Python process doing what a gunicorn worker does at boot
(facesite/wsgi.py: `recognition.startup.warm_up`, i.e. load the model and run one inference),
timed around that call, median over the runs. Three cases per pipeline:

- `off`: verification patched out, the start-up as it was before verification existed;
- `cold`: a new DATA_DIR, so the digest cache is empty and every weight file is hashed
  (the first start after an install or a change of a file);
- `warm`: the DATA_DIR of a previous start, so the digests come from the cache (every later start).

The verification time itself (`verify`) is measured inside the same processes. The files are
in the OS page cache in every case (the previous run read them), as on a server that restarts
its workers; a first read from a cold disk costs the same with or without verification, because
the model loads the same bytes.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from . import galleries

CHILD = r"""
import json, os, sys, time
import django
django.setup()
from recognition import service, startup

verify = service.WeightFiles.verify
spent, sizes = [], []
def timed_verify(self):
    started = time.perf_counter()
    verify(self)
    spent.append(time.perf_counter() - started)
    sizes.append(sum(os.path.getsize(path) for path in self.paths))
if sys.argv[1] == "off":
    service.WeightFiles.verify = lambda self: None
else:
    service.WeightFiles.verify = timed_verify
started = time.perf_counter()
startup.warm_up()
print(json.dumps({"start_s": time.perf_counter() - started, "verify_s": sum(spent), "weights_mb": sum(sizes) / 1e6}))
"""


def start_once(pipeline: str, case: str, data_dir: str) -> dict:
    model, detector = pipeline.split(":")
    env = dict(
        os.environ, DATA_DIR=data_dir, DEBUG="1", LOG_LEVEL="WARNING",
        FACE_RECOGNITION_MODEL=model, FACE_DETECTOR_BACKEND=detector,
        DJANGO_SETTINGS_MODULE="facesite.settings",
    )
    # --skip-checks: migrate's system checks would verify the weights and fill the digest cache.
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0", "--skip-checks"], cwd=galleries.BASE_DIR, env=env, check=True
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD, case], cwd=galleries.BASE_DIR, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(pipeline: str, runs: int) -> dict:
    results = {"off": [], "cold": [], "warm": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as data_dir:
            results["off"].append(start_once(pipeline, "off", data_dir))
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as data_dir:
            results["cold"].append(start_once(pipeline, "cold", data_dir))
            results["warm"].append(start_once(pipeline, "warm", data_dir))
    return {
        case: {key: round(statistics.median(run[key] for run in rows), 3) for key in ("start_s", "verify_s", "weights_mb")}
        for case, rows in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pipelines", default="ArcFace-MBF:scrfd,Dlib:dlib")
    args = parser.parse_args()
    figures = {pipeline: measure(pipeline, args.runs) for pipeline in args.pipelines.split(",")}
    print(json.dumps(figures, indent=2))
    print("\n| pipeline | weights | start, no verification | first start (hashes) | later starts (cache) | verification first / later |")
    print("|---|---|---|---|---|---|")
    for pipeline, cases in figures.items():
        print(
            f"| `{pipeline}` | {cases['cold']['weights_mb']:.0f} MB | {cases['off']['start_s']:.2f} s | {cases['cold']['start_s']:.2f} s | "
            f"{cases['warm']['start_s']:.2f} s | {cases['cold']['verify_s'] * 1000:.0f} ms / "
            f"{cases['warm']['verify_s'] * 1000:.1f} ms |"
        )


if __name__ == "__main__":
    main()
