"""Shared fixtures: real photos from FACES_DIR, a temporary data folder per test, and a clean
per-process index so no test sees another's vectors."""

import csv
import os
import re
import shutil
from contextlib import contextmanager
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
    from recognition.vectors import indexes

    indexes._indexes.clear()
    yield
    for each in indexes._indexes.values():
        each.wait_for_upkeep()  # no snapshot written into the next test's folder
    indexes._indexes.clear()


@pytest.fixture(autouse=True)
def no_erasure_retry_by_requests(monkeypatch):
    """Requests retry pending erasures (at most once a minute per process) only in the tests that
    ask for it, so no other test counts that query or sees an erasure it did not cause."""
    from records import erasure

    monkeypatch.setattr(erasure, "_next_retry", float("inf"))


# --- Vector stores and object storage past the process (bench/services.py) --------------------------
# Each server starts once per session, on free loopback ports, its data in a temporary folder, and
# stops at the session's end. Tests that stop or kill one start their own with bench.services.


@pytest.fixture(scope="session")
def milvus_lite_server(tmp_path_factory):
    """A `milvus-lite server` (milvus-lite's emulation of Milvus's API, a development server):
    a bench.services.MilvusLite, its `.uri` for MILVUS_URI."""
    from bench.services import MilvusLite

    with MilvusLite(tmp_path_factory.mktemp("milvus-lite")) as server:
        yield server


@pytest.fixture(scope="session")
def milvus_standalone_server(tmp_path_factory):
    """The real Milvus server (the `milvus` wheel's Milvus 2.3 standalone, about 8 s to start):
    a bench.services.MilvusStandalone, its `.uri` for MILVUS_URI."""
    from bench.services import MilvusStandalone

    with MilvusStandalone(tmp_path_factory.mktemp("milvus-standalone")) as server:
        yield server


# The vector stores a backend test runs on: (VECTOR_BACKEND, the session fixture of its server).
# The real server's runs are db_independent: what they add to the others' is what Milvus itself
# answers, the same on either database.
VECTOR_STORES = [
    pytest.param(("faiss", None), id="faiss"),
    pytest.param(("milvus", "milvus_lite_server"), id="milvus-lite"),
    pytest.param(("milvus", "milvus_standalone_server"), id="milvus", marks=pytest.mark.db_independent),
]
MILVUS_SERVERS = [param for param in VECTOR_STORES if param.values[0][1]]


@pytest.fixture(params=VECTOR_STORES)
def vector_backend(request, settings):
    """Runs a test on FAISS, Milvus Lite and the real Milvus server (VECTOR_BACKEND faiss or
    milvus); Milvus collections of the test's own."""
    with vector_store(request, settings, *request.param):
        yield request.param[0]


@pytest.fixture(params=MILVUS_SERVERS)
def milvus_backend(request, settings):
    """VECTOR_BACKEND=milvus on Milvus Lite and on the real Milvus server, collections of the
    test's own."""
    with vector_store(request, settings, *request.param):
        yield "milvus"


@pytest.fixture(params=VECTOR_STORES)
def served_vector_store(request, settings):
    """vector_backend for the app servers a test starts (bench.serving.Server, JobWorker): the
    environment that points them, and this test process, at each vector store in turn."""
    with vector_store(request, settings, *request.param) as environment:
        yield environment


@contextmanager
def vector_store(request, settings, backend: str, server: str | None):
    """VECTOR_BACKEND=backend in the settings; for Milvus, MILVUS_URI of the session's `server`
    and a collection prefix of the test's own, its collections dropped at the end. Yields the same
    as environment variables."""
    import uuid

    settings.VECTOR_BACKEND = backend
    if server is None:
        yield {"VECTOR_BACKEND": backend}
        return
    from pymilvus import MilvusClient

    uri = settings.MILVUS_URI = request.getfixturevalue(server).uri
    prefix = settings.MILVUS_COLLECTION_PREFIX = f"test_{uuid.uuid4().hex[:12]}"
    yield {"VECTOR_BACKEND": backend, "MILVUS_URI": uri, "MILVUS_COLLECTION_PREFIX": prefix}
    from pymilvus import MilvusException

    for attempt in range(2):
        # Once more after a dropped channel: milvus-lite's gRPC server answers pymilvus's keepalive
        # pings (every 10 s) with GOAWAY "Too many pings" once a test has kept it idle that long.
        try:
            client = MilvusClient(uri=uri)  # the test may have pointed MILVUS_URI elsewhere
            for name in client.list_collections():
                if name.startswith(prefix + "_"):
                    client.drop_collection(name)
            return
        except MilvusException:
            if attempt:
                raise


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's standalone server (a test double of S3's wire protocol): a bench.services.S3Server,
    its `.endpoint_url` for AWS_S3_ENDPOINT_URL."""
    from bench.services import S3Server

    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_storage(s3_server, settings, monkeypatch):
    """Photos, thumbnails, kept probes and staged imports in a new versioned bucket of the
    session's S3 server, in this process; yields the environment that does the same for the app
    servers and job workers a test starts (AWS_STORAGE_BUCKET_NAME names the bucket)."""
    import uuid

    from django.core.files.storage import storages
    from easy_thumbnails import storage as thumbnail_storage

    environment = s3_server.new_bucket(f"test-{uuid.uuid4().hex[:12]}")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(variable, environment[variable])
    s3 = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": environment["AWS_STORAGE_BUCKET_NAME"], "endpoint_url": s3_server.endpoint_url,
        "region_name": s3_server.REGION, "default_acl": None, "file_overwrite": False,
    }}
    settings.STORAGES = {**settings.STORAGES, "default": s3, "easy_thumbnails": s3}
    # easy-thumbnails picks its storage once, at import: a process started with these settings would.
    monkeypatch.setattr(thumbnail_storage, "thumbnail_default_storage", storages["easy_thumbnails"])
    yield environment


@pytest.fixture
def job_worker(transactional_db, settings, tmp_path):
    """job_worker(**env) -> a started `manage.py db_worker` (bench.serving.JobWorker) over the test
    database and this test's media folder (and `env`), as scripts/serve runs it; stopped at the end."""
    from django.db import connection

    from bench.serving import JobWorker, Server, database_url

    workers = []

    def start(**env) -> JobWorker:
        environment = Server(1, tmp_path / f"worker-{len(workers)}", database_url(connection.settings_dict),
                             Path(settings.MEDIA_ROOT), **env)
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


# At a phone's width and a desktop's, failing on anything an operator would meet.

WIDTHS = {"phone": 390, "desktop": 1200}


@pytest.fixture(params=list(WIDTHS))
def width(request) -> int:
    return WIDTHS[request.param]


class Watched:
    """A Playwright page that collects what an operator should never meet: a console error, a
    script error, a request that failed or answered 4xx/5xx (except statuses `allow`ed), and, at each
    `check()`, content wider than the screen. The test fails on any of them."""

    def __init__(self, page, width: int):
        self.page, self.problems, self.allowed = page, [], set()
        page.set_viewport_size({"width": width, "height": 860})
        page.set_default_timeout(20_000)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def allow(self, *statuses: int) -> None:
        """Answers with these statuses are expected (a 404 page, a refused upload)."""
        self.allowed.update(statuses)

    def _console(self, message) -> None:
        statuses = re.search(r"status of (\d+)", message.text)
        if message.type == "error" and not (statuses and int(statuses.group(1)) in self.allowed):
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _failed(self, request) -> None:
        # A navigation the page itself replaced (a form submitted while another loads) is no fault.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.status not in self.allowed:
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def check(self) -> None:
        """Nothing wider than the screen on the page shown now, and no problem so far."""
        self.page.wait_for_load_state()
        overflow = self.page.evaluate(
            """() => {
                const width = document.documentElement.clientWidth;
                const wide = Array.from(document.body.querySelectorAll("*")).filter((element) => {
                    const box = element.getBoundingClientRect();
                    return box.width > 0 && box.right > width + 1 && !element.closest("[data-scrolls]");
                });
                return { scroll: document.documentElement.scrollWidth, width,
                         wide: wide.slice(0, 5).map((e) => e.tagName + "." + e.className) };
            }"""
        )
        assert overflow["scroll"] <= overflow["width"], f"{self.page.url} is wider than the screen: {overflow}"
        assert not self.problems, self.problems

    def goto(self, url: str) -> None:
        self.page.goto(url)
        self.check()


@pytest.fixture
def watched(page, width):
    watched = Watched(page, width)
    yield watched
    assert not watched.problems, watched.problems


# --- Users of the pages: the groups of records/migrations/0004 ----------------------------------

PASSWORD = "a long test password"


def ensure_groups() -> None:
    """The Viewers, Operators and Managers groups as the data migration makes them. A transactional
    test's flush empties every table, so they are made again for the tests that follow one."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    migration = importlib.import_module("records.migrations.0004_page_permissions_and_groups")
    if Group.objects.filter(name__in=migration.GROUPS).count() < len(migration.GROUPS):
        editor = SimpleNamespace(connection=connection)
        migration.create_groups(apps, editor)
        importlib.import_module("records.migrations.0012_export_person_permission").grant(apps, editor)
        importlib.import_module("inbox.migrations.0002_review_unknown_to_managers").grant(apps, editor)
        # Those made content types anew: any cached before the flush name rows that are gone.
        ContentType.objects.clear_cache()


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
