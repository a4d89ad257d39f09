"""The People list as a browser loads it: the page and every face thumbnail on it.

    python -m bench.list_view            # the 24 largest single-face sample photos, 5 loads

In a new DATA_DIR with a migrated, empty database, the largest single-face photos of
`samples/manifest.csv` are enrolled (one person each, a full page of 24), then the page and its
thumbnails are fetched through Django's test client by a user who may view people: the first
load (thumbnails not made yet) and the following ones, in milliseconds.
"""

import argparse
import csv
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from . import galleries


def largest_photos(count: int) -> list[tuple[str, bytes]]:
    folder = galleries.faces_dir() / "samples"
    with (folder / "manifest.csv").open() as handle:
        paths = [folder / row["path"] for row in csv.DictReader(handle)]
    paths.sort(key=lambda path: path.stat().st_size, reverse=True)
    return [(path.stem, path.read_bytes()) for path in paths[:count]]


def measure(people: int, loads: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from recognition.errors import FaceError
    from records.usecases import enrolment

    enrolled = 0
    for name, data in largest_photos(people):
        try:
            enrolment.enrol(name, data)
            enrolled += 1
        except FaceError:
            continue
    user = User.objects.create_user("bench")
    user.user_permissions.add(Permission.objects.get(codename="view_person"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    timings = []
    for _ in range(loads):
        started = time.perf_counter()
        page = client.get("/people/")
        thumbnails = re.findall(r'src="(/photos/[^"]+/face\.jpg)"', page.content.decode())
        for url in thumbnails:
            assert client.get(url).status_code == 200
        timings.append((time.perf_counter() - started) * 1000)
    return {"people": enrolled, "thumbnails": len(thumbnails), "first_ms": timings[0],
            "later_ms": sorted(timings[1:])[len(timings[1:]) // 2]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=24)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inside:
        result = measure(options.people, options.loads)
        print(f"{result['people']} people, {result['thumbnails']} thumbnails on the page: first load "
              f"{result['first_ms']:.0f} ms, later loads {result['later_ms']:.0f} ms (median)")
        return
    data_dir = tempfile.mkdtemp(prefix="bench-list-")
    env = dict(os.environ, DATA_DIR=data_dir, SECRET_KEY=secrets.token_urlsafe(50), LOG_LEVEL="WARNING",
               DJANGO_SETTINGS_MODULE="facesite.settings")
    env.pop("DATABASE_URL", None)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
                       cwd=galleries.BASE_DIR, env=env, check=True)
        subprocess.run([sys.executable, "-m", "bench.list_view", "--inside", "--people", str(options.people),
                        "--loads", str(options.loads)], cwd=galleries.BASE_DIR, env=env, check=True)
    finally:
        shutil.rmtree(data_dir)


if __name__ == "__main__":
    main()
