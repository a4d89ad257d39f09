"""Bulk import throughput: photos per second of `manage.py import_faces` on LFW.

    python -m bench.import_speed                    # the first 300 LFW photos, 1 then 2 workers, ~5 minutes
    python -m bench.import_speed --photos 9525      # all of LFW
    git worktree add /tmp/before <revision>; python -m bench.import_speed --baseline /tmp/before --rounds 2

With --baseline, the same runs of that checkout of the project (same interpreter) alternate with
this one's, so both see the same load on a shared machine.

Each run is the command as a user runs it (`manage.py import_faces <lfw/images> --limit N
--workers W`), in a new DATA_DIR with a migrated, empty database, timed from process start to exit:
model loading in every worker process, detection and embedding, database rows, stored photo files
and the index all included. Also reported: CPU time of the command and its workers per photo,
which on a busy shared machine says more than wall time about what the cores can do.
"""

import argparse
import json
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import galleries


def run(photos: int, workers: int, project: Path = galleries.BASE_DIR) -> dict:
    data_dir = tempfile.mkdtemp(prefix="bench-import-")
    env = dict(os.environ, DATA_DIR=data_dir, SECRET_KEY=secrets.token_urlsafe(50), LOG_LEVEL="WARNING")
    env.pop("DEBUG", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=project, env=env, check=True)
    images = galleries.faces_dir() / "lfw" / "images"
    started, cpu_before = time.perf_counter(), children_cpu_seconds()
    try:
        done = subprocess.run(
            [*manage, "import_faces", str(images), "--limit", str(photos), "--workers", str(workers), "-v1"],
            cwd=project, env=env, check=True, capture_output=True, text=True,
        )
        elapsed = time.perf_counter() - started
        cpu = children_cpu_seconds() - cpu_before
    finally:
        shutil.rmtree(data_dir)
    summary = done.stdout.strip().splitlines()[-1]
    enrolled = int(re.search(r"images enrolled: (\d+)", summary).group(1))
    return {"project": str(project), "photos": photos, "workers": workers, "seconds": elapsed, "enrolled": enrolled,
            "photos_per_s": photos / elapsed, "cpu_seconds": cpu, "cpu_ms_per_photo": 1000 * cpu / photos,
            "summary": summary}


def children_cpu_seconds() -> float:
    """CPU time of finished child processes and theirs (the command and its worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project, run alternately with this one")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", default="bench/import_speed.json")
    args = parser.parse_args()
    projects = [galleries.BASE_DIR] + ([args.baseline.resolve()] if args.baseline else [])
    results = {"machine": galleries.machine(), "runs": []}
    for _ in range(args.rounds):
        for workers in (int(w) for w in args.workers.split(",")):
            for project in projects:
                result = run(args.photos, workers, project)
                results["runs"].append(result)
                print(
                    f"{project.name}: {result['photos']} photos, {workers} worker(s): {result['seconds']:.1f} s, "
                    f"{result['photos_per_s']:.2f} photos/s, {result['cpu_ms_per_photo']:.0f} CPU-ms per photo "
                    f"({result['summary']})",
                    flush=True,
                )
    for project in projects:
        cpu = [r["cpu_ms_per_photo"] for r in results["runs"] if r["project"] == str(project)]
        print(f"{project.name}: median {statistics.median(cpu):.0f} CPU-ms per photo = "
              f"{1000 / statistics.median(cpu):.2f} photos/s per core")
    Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
