"""Shared fixtures: real photos from FACES_DIR, a temporary data folder per test, and a clean
per-process index so no test sees another's vectors."""

import csv
import os
import shutil
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    """scripts/test's second pass (PostgreSQL) sets SKIP_DB_INDEPENDENT: tests marked
    db_independent prove nothing more there than on the first pass, and CI's time is bounded."""
    if not os.environ.get("SKIP_DB_INDEPENDENT"):
        return
    kept = [item for item in items if item.get_closest_marker("db_independent") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    from django.conf import settings

    path = Path(settings.FACES_DIR)
    if not (path / "lfw" / "manifest.csv").exists():
        pytest.fail(f"Face photos not found at {path}: set FACES_DIR (see README)")
    return path


@pytest.fixture(scope="session")
def lfw_people(faces_dir) -> dict[str, list[Path]]:
    """LFW identity -> its photos, in file order."""
    people: dict[str, list[Path]] = {}
    with (faces_dir / "lfw" / "manifest.csv").open() as handle:
        for row in csv.DictReader(handle):
            people.setdefault(row["identity"], []).append(faces_dir / "lfw" / row["path"])
    return people


@pytest.fixture
def photo(lfw_people):
    """photo("George_W_Bush", 0) -> the bytes of that person's first LFW photo."""

    def read(identity: str, number: int = 0) -> bytes:
        return lfw_people[identity][number].read_bytes()

    return read


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttle counts and concurrency slots live in the cache, which outlives a test: each test
    starts with none (a run makes far more anonymous requests from 127.0.0.1 than a minute allows)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def isolated_data(settings, tmp_path):
    """Each test writes photos and index snapshots under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.INDEX_DIR = tmp_path / "index"
    from recognition import gallery

    gallery._galleries.clear()
    yield
    for each in gallery._galleries.values():
        each.wait_for_upkeep()  # no snapshot written into the next test's folder
    gallery._galleries.clear()


@pytest.fixture(autouse=True)
def no_erasure_retry_by_requests(monkeypatch):
    """Requests retry pending erasures (at most once a minute per process) only in the tests that
    ask for it, so no other test counts that query or sees an erasure it did not cause."""
    from records import erasure

    monkeypatch.setattr(erasure, "_next_retry", float("inf"))


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """The URI of a `milvus-lite server` on a free loopback port, started once for the session (its
    data in a temporary folder) and stopped at its end."""
    import importlib.util
    import subprocess
    import sys
    import time

    from bench.serving import HOST, free_port

    if importlib.util.find_spec("milvus_lite") is None:
        pytest.fail("milvus-lite is not installed: pip install -r requirements-dev.txt")
    folder = tmp_path_factory.mktemp("milvus")
    port = free_port()
    uri = f"http://{HOST}:{port}"
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "data"),
             "--host", HOST, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"milvus-lite server exited: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                MilvusClient(uri=uri, timeout=2).list_collections()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"milvus-lite server did not answer at {uri} within 120 s")
                time.sleep(0.5)
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(params=["faiss", "milvus"])
def vector_backend(request, settings):
    """Runs a test once with each VECTOR_BACKEND; Milvus collections of their own per test."""
    settings.VECTOR_BACKEND = request.param
    if request.param != "milvus":
        yield request.param
        return
    yield from milvus_collections(request, settings)


@pytest.fixture
def milvus_backend(request, settings):
    """VECTOR_BACKEND=milvus on the session's milvus-lite server, collections of the test's own."""
    settings.VECTOR_BACKEND = "milvus"
    yield from milvus_collections(request, settings)


def milvus_collections(request, settings):
    import uuid

    from pymilvus import MilvusClient

    uri = settings.MILVUS_URI = request.getfixturevalue("milvus_server")
    prefix = settings.MILVUS_COLLECTION_PREFIX = f"test_{uuid.uuid4().hex[:12]}"
    yield "milvus"
    client = MilvusClient(uri=uri)  # the test may have pointed MILVUS_URI elsewhere
    for name in client.list_collections():
        if name.startswith(prefix + "_"):
            client.drop_collection(name)


@pytest.fixture
def job_worker(transactional_db, settings, tmp_path):
    """job_worker() -> a started `manage.py db_worker` (bench.serving.JobWorker) over the test
    database and this test's media folder, as scripts/serve runs it; stopped at the end."""
    from django.db import connection

    from bench.serving import JobWorker, Server, database_url

    workers = []

    def start() -> JobWorker:
        environment = Server(1, tmp_path / f"worker-{len(workers)}", database_url(connection.settings_dict), Path(settings.MEDIA_ROOT))
        environment.data_dir.mkdir(parents=True)
        workers.append(JobWorker(environment).start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="session")
def face_service():
    from recognition.service import get_service

    service = get_service()
    service.load()
    return service


# --- Browser tests: Playwright driving Debian's Chromium (`apt-get install chromium`) -----------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def playwright(playwright):
    """Playwright's sync API keeps an asyncio loop marked as running in this thread while it is
    started, and Django then refuses ORM calls from the test (SynchronousOnlyOperation). The test
    thread is not async code: allow them for as long as Playwright runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield playwright


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Playwright cannot download its own browsers here; the distribution's Chromium does the job.
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "The browser tests need Chromium: apt-get install chromium"
        # CI (.ci/run) sets REQUIRE_BROWSER: there a missing browser fails instead of skipping.
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": chromium, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1200, "height": 860}}


# --- Users of the pages: the groups of records/migrations/0004 ----------------------------------

PASSWORD = "a long test password"


def ensure_groups() -> None:
    """The Viewers, Operators and Managers groups as the data migration makes them. A transactional
    test's flush empties every table, so they are made again for the tests that follow one."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.contrib.auth.models import Group
    from django.db import connection

    migration = importlib.import_module("records.migrations.0004_page_permissions_and_groups")
    if Group.objects.filter(name__in=migration.GROUPS).count() < len(migration.GROUPS):
        migration.create_groups(apps, SimpleNamespace(connection=connection))


@pytest.fixture
def member(django_user_model):
    """member("Operators", "olga") -> a new user in that group (password PASSWORD); group None: a
    user with no permission at all."""
    from django.contrib.auth.models import Group

    def make(group: str | None, username: str | None = None, **fields):
        user = django_user_model.objects.create_user(username or (group or "nobody").lower(), password=PASSWORD, **fields)
        if group:
            ensure_groups()
            user.groups.add(Group.objects.get(name=group))
        return user

    return make
